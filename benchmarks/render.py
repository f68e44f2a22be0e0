"""Time `render_issue` on a 50-article issue, Chinese and English, over render.max_bytes so it is shortened.

    python benchmarks/render.py [--articles 50] [--runs 31] [--fresh 5] [--premailer]

The issues are tests/issue_factory.make_week: cards like a news site's (TL;DRs of 120-280
characters, zero to six key figures, images on two in three), about 190 KB at full size, so
render_issue shortens them to 100,000 bytes. Each figure is one whole render_issue call, the
call `digest build` makes: every HTML pass, the shortening, the text part. Printed:

- per issue, the median and min of `--runs` calls (wall and CPU time), Chinese and English
  interleaved, against the 40 ms target (issue 13), and PASS or MISS on the median;
- the floor beside it: the cards, one Jinja2 → MJML → css-inline pass and the text part of the
  issue as sent (already shortened), which render_issue cannot beat; it must give the same bytes;
- the split by stage (Jinja2 for the HTML, MJML, css-inline, the text part with its wrapping,
  the rest: cards, measuring, choosing) and how many HTML passes (MJML compilations) one call
  makes, from separate instrumented calls;
- the first call in a fresh interpreter (imports excluded), what one `digest build` pays;
- with --premailer (pip install '.[bench]'): css-inline against premailer on the same compiled
  HTML, and render_issue with each (the figures quoted in digest/render/inline.py).
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from issue_factory import make_settings, make_week

from digest.config import Settings
from digest.models import Issue, RenderedEmail
from digest.render import issue as render
from digest.render.reads import issue_as_rendered
from digest.text import cut, one_line

TARGET_MS = 40.0
LANGUAGES = ("zh-CN", "en")


def timed(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """(wall ms, CPU ms, result) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000, out


def settings_for(language: str, **render_section: Any) -> Settings:
    if render_section:
        return make_settings(language=language, render=render_section)
    return make_settings(language=language)


def as_sent(issue: Issue, rendered: RenderedEmail) -> tuple[Issue, int | None]:
    """The issue as it was sent, TL;DRs already cut: rendering it needs no shortening. (issue, the TL;DR cut)."""
    step = re.search(r"TL;DRs cut to (\d+) characters", " ".join(rendered.warnings))
    tldr_max = int(step.group(1)) if step else None
    sent = issue_as_rendered(issue, rendered)
    if tldr_max is not None:
        sent = dataclasses.replace(
            sent, articles=[dataclasses.replace(a, tldr=cut(one_line(a.tldr), tldr_max)) for a in sent.articles]
        )
    return sent, tldr_max


def one_pass(sent: Issue, settings: Settings) -> tuple[str, str]:
    """The floor: the cards, one Jinja2 → MJML → css-inline pass and the text part of the issue as sent."""
    r = render._Renderer(sent, settings, None)
    context = r.context(sent.articles, sent.more, None)
    return r.html(context), r.text(context)


class Stages:
    """Wraps the renderer's Jinja2, MJML and css-inline calls (wherever digest.render imports them) to time them."""

    NAMES = ("render_template", "mjml2html", "inline_css")

    def __init__(self) -> None:
        self.spent: dict[str, float] = {}
        self.passes = 0
        self.total = 0.0
        self._saved: list[tuple[Any, str, Any]] = []

    def __enter__(self) -> Stages:
        for module in [m for name, m in sys.modules.items() if name.startswith("digest.render")]:
            for attr in self.NAMES:
                original = getattr(module, attr, None)
                if original is not None and not hasattr(original, "_bench"):
                    self._saved.append((module, attr, original))
                    setattr(module, attr, self._wrap(attr, original))
        return self

    def __exit__(self, *exc: object) -> None:
        for module, attr, original in self._saved:
            setattr(module, attr, original)

    def _wrap(self, attr: str, original: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if attr == "render_template":
                stage = "text part" if str(args[1]).endswith(".txt.j2") else "Jinja2"
            else:
                stage = {"mjml2html": "MJML", "inline_css": "css-inline"}[attr]
                self.passes += attr == "mjml2html"
            t = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.spent[stage] = self.spent.get(stage, 0.0) + (time.perf_counter() - t) * 1000

        wrapper._bench = True  # type: ignore[attr-defined]
        return wrapper


def fresh_first_call(language: str, articles: int) -> float:
    """ms of the first render_issue call in a new interpreter, its imports excluded."""
    out = subprocess.run(
        [sys.executable, __file__, "--child-first", language, "--articles", str(articles)],
        capture_output=True, text=True, check=True,
    )
    return float(out.stdout.split()[-1])


def child_first(language: str, articles: int) -> None:
    issue, settings = make_week(articles, language=language), settings_for(language)
    wall, _cpu, _ = timed(lambda: render.render_issue(issue, settings))
    print(f"{wall:.3f}")


def line(label: str, walls: list[float], cpus: list[float] | None = None) -> str:
    text = f"{label:<52} median {statistics.median(walls):6.1f} ms   min {min(walls):6.1f} ms"
    if cpus:
        text += f"   (CPU median {statistics.median(cpus):6.1f} ms)"
    return text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--articles", type=int, default=50)
    ap.add_argument("--runs", type=int, default=31)
    ap.add_argument("--fresh", type=int, default=5, help="fresh interpreters per language for the first call")
    ap.add_argument("--premailer", action="store_true")
    ap.add_argument("--child-first", metavar="LANGUAGE", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child_first:
        child_first(args.child_first, args.articles)
        return

    n = args.articles
    cases: dict[str, dict[str, Any]] = {}
    for language in LANGUAGES:
        settings = settings_for(language)
        rendered = render.render_issue(make_week(n, language=language), settings)  # loads templates and caches
        sent, tldr_max = as_sent(make_week(n, language=language), rendered)
        full = render.render_issue(make_week(n, language=language), settings_for(language, max_bytes=10**9))
        cases[language] = {
            "settings": settings, "rendered": rendered, "sent": sent, "tldr_max": tldr_max,
            "full_bytes": len(full.html.encode()), "calls": ([], []), "floor": ([], []), "stages": [],
        }

    for _ in range(args.runs):  # interleaved: zh, en, zh, en …, the floor beside each
        for language in LANGUAGES:
            case = cases[language]
            issue = make_week(n, language=language)
            wall, cpu, out = timed(lambda issue=issue, case=case: render.render_issue(issue, case["settings"]))
            assert out == case["rendered"], "render_issue is not deterministic"
            case["calls"][0].append(wall)
            case["calls"][1].append(cpu)
            wall, cpu, floor = timed(lambda case=case: one_pass(case["sent"], case["settings"]))
            case["floor"][0].append(wall)
            case["floor"][1].append(cpu)
            same = floor == (case["rendered"].html, case["rendered"].text)
            case["floor_same"] = case.get("floor_same", True) and same
    for _ in range(max(5, args.runs // 3)):
        for language in LANGUAGES:
            case = cases[language]
            with Stages() as stages:
                issue = make_week(n, language=language)
                stages.total = timed(lambda issue=issue, case=case: render.render_issue(issue, case["settings"]))[0]
            case["stages"].append(stages)
    fresh: dict[str, list[float]] = {lang: [] for lang in LANGUAGES}
    for _ in range(args.fresh):
        for language in LANGUAGES:
            fresh[language].append(fresh_first_call(language, n))

    print(f"render_issue, {n} articles, render.max_bytes 100,000; {args.runs} calls each, Chinese and English"
          f" interleaved (2-core machine: read the min beside the median)")
    for language in LANGUAGES:
        case = cases[language]
        r = case["rendered"]
        cut_text = f"TL;DRs cut to {case['tldr_max']}" if case["tldr_max"] else "TL;DRs whole"
        print(f"\n{language}: {case['full_bytes']:,} bytes at full size → {len(r.html.encode()):,} bytes sent,"
              f" {r.shown} of {n} cards shown, {cut_text}; text part {len(r.text.encode()):,} bytes")
        walls, cpus = case["calls"]
        verdict = "PASS" if statistics.median(walls) <= TARGET_MS else "MISS"
        target = f"   {verdict} (≤ {TARGET_MS:.0f} ms)"
        print(line("  render_issue (all passes, shortening, text)", walls, cpus) + target)
        same = "same bytes" if case["floor_same"] else "DIFFERENT bytes"
        print(line(f"  floor: one pass of the issue as sent ({same})", *case["floor"]))
        print(line("  first call in a fresh interpreter", fresh[language]))
        stage_list: list[Stages] = case["stages"]
        split = {k: statistics.median(s.spent.get(k, 0.0) for s in stage_list)
                 for k in ("Jinja2", "MJML", "css-inline", "text part")}
        split["rest"] = statistics.median(s.total - sum(s.spent.values()) for s in stage_list)
        passes = statistics.median(s.passes for s in stage_list)
        parts = "   ".join(f"{k} {v:5.1f}" for k, v in split.items())
        print(f"  stages, median ms of {len(stage_list)} calls:  {parts}   HTML passes {passes:g}")
    if args.premailer:
        premailer_comparison(n, args.runs)


def premailer_comparison(n: int, runs: int) -> None:
    """css-inline against premailer: on one compiled issue at full size, and inside render_issue."""
    try:
        import premailer  # noqa: F401 - only to say it is missing
    except ImportError:
        print("\npremailer: not installed (pip install '.[bench]'), comparison skipped")
        return
    from mjml import mjml2html

    from digest.render import inline

    fns = {"css-inline": inline.inline_css, "premailer": inline.inline_premailer}
    print(f"\ncss-inline against premailer, median / min ms, interleaved: inlining the compiled {n}-article issue"
          " at full size; one render_issue call (shortened, as above) with that inliner")
    for language in LANGUAGES:
        r = render._Renderer(make_week(n, language=language), settings_for(language, max_bytes=10**9), None)
        compiled = mjml2html(r.mjml(r.context(r.issue.articles, [], None)), fonts={})
        inlining: dict[str, list[float]] = {name: [] for name in fns}
        calls: dict[str, list[float]] = {name: [] for name in fns}
        rounds = max(3, runs // 3)
        for i in range(rounds):
            for name, fn in fns.items():
                inlining[name].append(timed(lambda fn=fn, html=compiled: fn(html))[0])
                if i < max(3, rounds // 2):
                    calls[name].append(_render_with(fn, language, n, settings_for(language)))
        print(f"  {language} ({len(compiled.encode()):,} bytes of compiled HTML before inlining):")
        for name in fns:
            a, b = inlining[name], calls[name]
            print(f"    {name:<10}  inlining {statistics.median(a):6.1f} / {min(a):6.1f}"
                  f"    render_issue {statistics.median(b):6.1f} / {min(b):6.1f}")


def _render_with(inliner: Callable[[str], str], language: str, n: int, settings: Settings) -> float:
    """ms of one render_issue call whose CSS inlining is done by `inliner`."""
    saved = []
    for module in [m for name, m in sys.modules.items() if name.startswith("digest.render")]:
        if getattr(module, "inline_css", None) is not None and module.__name__ != "digest.render.inline":
            saved.append((module, module.inline_css))
            module.inline_css = inliner
    try:
        return timed(lambda: render.render_issue(make_week(n, language=language), settings))[0]
    finally:
        for module, original in saved:
            module.inline_css = original


if __name__ == "__main__":
    main()
