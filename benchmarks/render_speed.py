"""Time render_issue on a 50-article issue with css-inline (used) and premailer (the design's first choice).

    python benchmarks/render_speed.py [N_ARTICLES] [RUNS]

Prints, per inliner, the median of one full render_issue call (size limit included, so a
too-big issue renders several times) and of one Jinja2 → MJML → inline pass, with the
inliner's own share. The figures are copied into the docstring of digest/inline.py.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from issue_factory import make_issue, make_settings

from digest.render import inline
from digest.render import issue as render


def _median_ms(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    settings = make_settings(language="en")
    render.render_issue(make_issue(n), settings)  # warm the template cache
    for name, fn in (("css-inline", inline.inline_css), ("premailer", inline.inline_premailer)):
        spent: list[float] = []

        def timed(html: str, fn=fn, spent=spent) -> str:
            t = time.perf_counter()
            out = fn(html)
            spent.append((time.perf_counter() - t) * 1000)
            return out

        with mock.patch.object(render, "inline_css", timed):
            per_call: list[float] = []

            def call(spent=spent, per_call=per_call) -> None:
                spent.clear()
                render.render_issue(make_issue(n), settings)
                per_call.append(sum(spent))

            full = _median_ms(call, runs)
            in_call = statistics.median(per_call)
            spent.clear()
            big = make_settings(language="en", render={"max_bytes": 10_000_000})
            r = render._Renderer(make_issue(n), big, None)
            ctx = r.context(make_issue(n).articles, [], None)
            one = _median_ms(lambda r=r, ctx=ctx: r.html(ctx), runs)
            share = statistics.median(spent)
        print(
            f"{name:10}  render_issue({n}): {full:6.1f} ms, of which inlining {in_call:6.1f} ms ({in_call / full:4.0%})"
            f"   | one pass without the size limit: {one:5.1f} ms, inlining {share:5.1f} ms ({share / one:4.0%})"
        )


if __name__ == "__main__":
    main()
