# How fast is `digest build` on a big site, next to Hugo on the same content? (issue 6)
#
# From a fresh clone, on Debian/Ubuntu:
#
#     python -m venv .venv && . .venv/bin/activate
#     pip install -e '.[bench]'          # digest plus pyinstrument (for --profile)
#     sudo apt-get install -y hugo       # or any Hugo >= 0.100 on PATH; `hugo version` must work
#     python benchmarks/build.py                     # 1,000, 10,000 and 100,000 articles
#     python benchmarks/build.py --sizes 1000,10000  # smaller, faster
#
# It writes synthetic sites under benchmarks/_sites/ (gitignored, about 0.6 GB for 100,000
# articles, reused when present), then for each size runs `digest build --since <7 days before
# the newest article>` as a subprocess twice: cold (fresh state database, so no scan cache) and
# warm (same state, nothing changed), recording wall time and the child's peak RSS. For 1,000
# and 10,000 articles it also times `hugo --renderToMemory` over the same content with minimal
# layouts. Last, it times rendering one 50-article issue in-process (Jinja2 → MJML → HTML →
# inlined CSS). It prints one table with each target and PASS or MISS.
#
# The articles are shaped like tests/fixtures/dev/content/posts/2025-07-05-ai-capital.md: YAML
# front matter (title, date with an offset, draft, featured_image, a long summary, block lists of
# tags and main_topics), Chinese and English prose with headings and a dozen bold figures. Their
# dates cover three years; the newest week holds ISSUE_SIZE of them at every size, as a weekly
# issue of a long-running site carries a few dozen articles however big the archive is.

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
SITES = HERE / "_sites"
GENERATOR_VERSION = "2"  # bump when the generated content changes, so old sites are rebuilt
ISSUE_SIZE = 48
NEWEST = datetime(2025, 7, 5, 11, 10, 4, tzinfo=timezone(timedelta(hours=8)))
SPAN = timedelta(days=3 * 365)

TARGETS = {
    # (size, what): (limit, how it is compared)
    "cold_ratio": 0.3,  # 10,000 articles: cold digest / hugo
    "warm_ratio": 0.1,  # 10,000 articles: warm digest / hugo
    "cold_100k": 8.0,  # seconds
    "warm_100k": 1.5,  # seconds
    "rss_100k": 400.0,  # MB
    "render_50": 0.250,  # seconds
    "explain_ratio": 2.0,  # cold `digest build --explain` / cold `digest build` (issue 11)
}

# --- the synthetic site -------------------------------------------------------------------------

CJK_SENTENCES = [
    "硅谷的沙滩上，曾几何时，掘金者们为晶体管、软件和互联网而疯狂",
    "这股汹涌的资本洪流首先浇灌的，自然是那些足以改写规则的巨兽",
    "然而，这并不是一场仅限于少数巨头在模型竞技场上的独角戏",
    "资本的嗅觉也正悄然转向AI生态的基石和管道",
    "投资逻辑正从对通用能力的盲目崇拜，转向对垂直落地的实用主义",
    "医疗和法律两大传统行业成为AI应用加速落地的沃土",
    "这种性能趋同的现象，引发了业内对技术护城河是否存在的深刻辩论",
    "可以预见，明年的投资图景将更加多元化",
    "差异化和专业化正成为新的护城河",
    "这场智力资本的狂想曲仍在继续，但调性已变",
    "地缘政治的影子无处不在，供应链正在重新布局",
    "电池回收产业在政策推动下迎来新一轮扩张",
]
EN_SENTENCES = [
    "Venture money keeps flowing into infrastructure rather than frontier models",
    "Analysts expect the market to consolidate over the next two years",
    "The company said margins improved on lower component costs",
    "Regulators in Brussels and Washington are watching the deals closely",
    "Hospitals report that ambient scribes save clinicians hours every week",
    "Heat pumps outsold gas boilers for the first time in several markets",
    "The marathon was moved to dawn after last year's heat emergency",
    "Tea exporters are shifting from bulk sales to branded packets",
    "Layoffs at fintech start-ups slowed in the second quarter",
    "Smart rings are the fastest-growing category of wearables",
]
FIGURE_CONTEXTS_CJK = ["融资", "估值", "营收", "增长", "投资", "出口额", "装机量", "用户数"]
FIGURE_CONTEXTS_EN = ["in funding", "in revenue", "growth", "of capacity", "users", "in exports"]
TAGS = ["AI融资", "风险投资", "产业生态", "大模型", "AI基础设施", "energy", "health", "fintech", "sport",
        "trade", "wearables", "climate", "education", "security", "cloud", "chips", "policy", "mobility"]
TOPICS = ["投融资与市场洞察", "产业生态与商业版图", "Technology", "Economy", "Science", "Society", "Sport"]
TITLE_WORDS_CJK = ["智力资本的狂想曲", "电池回收", "热泵出口", "茶叶贸易", "马拉松与高温", "金融科技裁员", "智能戒指"]
TITLE_WORDS_EN = ["Capital", "Batteries", "Heat pumps", "Tea", "Marathons", "Fintech", "Rings", "Chips", "Clouds"]


def _figure(rng: random.Random, cjk: bool) -> str:
    kind = rng.randrange(4)
    if kind == 0:
        value = f"{rng.randint(2, 999)}亿美元" if cjk else f"${rng.randint(2, 999)} billion"
    elif kind == 1:
        value = f"{rng.randint(1, 99)}.{rng.randint(0, 9)}%"
    elif kind == 2:
        value = f"{rng.randint(2, 90)}家" if cjk else f"{rng.randint(2, 90)} companies"
    else:
        value = f"{rng.randint(2, 40)}倍" if cjk else f"{rng.randint(2, 40)}x"
    context = rng.choice(FIGURE_CONTEXTS_CJK if cjk else FIGURE_CONTEXTS_EN)
    return f"**{value}**{context}" if cjk else f"**{value}** {context}"


def _sentences(rng: random.Random, count: int) -> list[tuple[str, bool]]:
    out = []
    for _ in range(count):
        cjk = rng.random() < 0.6
        out.append((rng.choice(CJK_SENTENCES if cjk else EN_SENTENCES), cjk))
    return out


def _prose(sentences: list[tuple[str, bool]]) -> str:
    return "".join(s + ("。" if cjk else ". ") for s, cjk in sentences).strip()


def article_text(rng: random.Random, index: int, when: datetime) -> str:
    """One article like the sample: YAML front matter, a TL;DR quote, headings, prose, 12 bold figures."""
    cjk_title = rng.random() < 0.6
    title = (f"{rng.choice(TITLE_WORDS_CJK)}：第{index}篇观察" if cjk_title
             else f"{rng.choice(TITLE_WORDS_EN)} — notes, part {index}")
    lines = [
        "---",
        f"title: {title}",
        f"date: {when.isoformat()}",
        f"draft: {'true' if rng.random() < 0.02 else 'false'}",
        f"featured_image: /images/{index % 97}.png",
        f"summary: {_prose(_sentences(rng, 4))}",
        "tags: ",
        *(f"  - {t}" for t in rng.sample(TAGS, 5)),
        "main_topics: ",
        *(f"  - {t}" for t in rng.sample(TOPICS, 2)),
        "---",
        "",
        "TL;DR：",
        f">{_prose(_sentences(rng, 4))}",
        "",
    ]
    paragraphs = [_sentences(rng, rng.randint(5, 8)) for _ in range(8)]
    slots = [(p, s) for p, para in enumerate(paragraphs) for s in range(len(para))]
    for p, s in rng.sample(slots, 12):  # a dozen bold figures, anywhere in the prose
        text, cjk = paragraphs[p][s]
        paragraphs[p][s] = (text + ("，达到" if cjk else ", reaching ") + _figure(rng, cjk), cjk)
    for number, para in enumerate(paragraphs):
        if number % 2 == 0:
            lines += [f"### {rng.choice(TITLE_WORDS_CJK)} {number // 2 + 1}", ""]
        lines += [_prose(para), ""]
    lines.append("## 引用")
    lines.append(f"[^1]: [来源 {index}](https://example.com/source/{index})·证券时报（2025/4/9）")
    return "\n".join(lines) + "\n"


def article_dates(count: int, rng: random.Random) -> list[datetime]:
    """ISSUE_SIZE dates in the newest week, the rest spread over the three years before it."""
    recent = min(ISSUE_SIZE, count)
    week = timedelta(days=7)
    dates = [NEWEST - timedelta(seconds=rng.uniform(0, week.total_seconds() - 3600)) for _ in range(recent - 1)]
    dates.append(NEWEST)
    older = SPAN - week
    dates += [NEWEST - week - timedelta(seconds=rng.uniform(60, older.total_seconds())) for _ in range(count - recent)]
    return [d.replace(microsecond=0) for d in dates]


HUGO_TOML = """\
baseURL = "https://news.example.com/"
title = "Benchmark site"
# Minimal: articles, sections and the home page only, no taxonomy pages, feeds or sitemap.
disableKinds = ["taxonomy", "term", "RSS", "sitemap", "robotsTXT", "404"]
"""
SINGLE_HTML = "<html><head><title>{{ .Title }}</title></head><body><h1>{{ .Title }}</h1>{{ .Content }}</body></html>\n"
LIST_HTML = ("<html><body><h1>{{ .Title }}</h1><ul>{{ range .Pages }}"
             "<li><a href=\"{{ .RelPermalink }}\">{{ .Title }}</a></li>{{ end }}</ul></body></html>\n")
DIGEST_CONFIG = """\
site:
  title: Benchmark site
  base_url: https://news.example.com
  timezone: Asia/Shanghai
content: content
out: issues
state: .digest/state.sqlite
"""


def make_site(count: int) -> Path:
    """benchmarks/_sites/site-COUNT with content/, config.yaml (digest) and hugo.toml + layouts (Hugo)."""
    root = SITES / f"site-{count}"
    stamp = root / ".complete"
    if stamp.exists() and stamp.read_text() == GENERATOR_VERSION:
        return root
    if root.exists():
        shutil.rmtree(root)
    print(f"generating {count:,} articles in {root} …", file=sys.stderr, flush=True)
    started = time.perf_counter()
    rng = random.Random(count)
    posts = root / "content" / "posts"
    made: set[Path] = set()
    for index, when in enumerate(article_dates(count, rng)):
        folder = posts / str(when.year)
        if folder not in made:
            folder.mkdir(parents=True, exist_ok=True)
            made.add(folder)
        name = f"{when:%Y-%m-%d}-post-{index:06d}.md"
        (folder / name).write_text(article_text(rng, index, when), encoding="utf-8")
    (root / "config.yaml").write_text(DIGEST_CONFIG, encoding="utf-8")
    (root / "hugo.toml").write_text(HUGO_TOML, encoding="utf-8")
    layouts = root / "layouts" / "_default"
    layouts.mkdir(parents=True, exist_ok=True)
    (layouts / "single.html").write_text(SINGLE_HTML, encoding="utf-8")
    (layouts / "list.html").write_text(LIST_HTML, encoding="utf-8")
    stamp.write_text(GENERATOR_VERSION)
    print(f"  done in {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    return root


# --- measuring ----------------------------------------------------------------------------------


def child_env() -> dict[str, str]:
    """The environment of a user's shell: Python may cache bytecode (some CI images turn that off)."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("PYTHONPROFILEIMPORTTIME", None)
    return env


def _tree_rss_kb(pid: int) -> int:
    """Resident memory of a process and its descendants now, from /proc (0 where there is no /proc)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    todo += [int(c) for c in fh.read().split()]
        except (OSError, ValueError):
            continue
    return total


def run_timed(cmd: list[str], cwd: Path) -> tuple[float, float, float, float, str]:
    """(wall s, CPU s of the process and its workers, peak RSS of the largest process MB, of the whole tree MB,
    stderr)."""
    import threading

    with tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=err, env=child_env())
        peak = [0]
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.02):
                peak[0] = max(peak[0], _tree_rss_kb(proc.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        done.set()
        sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{stderr}")
    # ru_* cover the child and the workers it waited for; ru_maxrss is in KB on Linux.
    cpu = usage.ru_utime + usage.ru_stime
    return wall, cpu, usage.ru_maxrss / 1024, max(peak[0], usage.ru_maxrss) / 1024, stderr


def digest_build(
    site: Path, state: Path, out: Path, since: datetime, *, explain: bool = False
) -> tuple[float, float, float, float, str]:
    cmd = [sys.executable, "-m", "digest", "build", "--since", since.isoformat(),
           "--config", str(site / "config.yaml"), "--state", str(state), "--out", str(out)]
    return run_timed([*cmd, "--explain"] if explain else cmd, site)


def hugo_build(site: Path) -> float:
    wall, _, _, _, _ = run_timed(["hugo", "--renderToMemory", "--quiet", "--source", str(site)], site)
    return wall


def measure_size(count: int, repeat: int, with_hugo: bool) -> dict[str, float | str]:
    site = make_site(count)
    since = NEWEST - timedelta(days=7)
    runs: dict[str, list[tuple[float, float]]] = {"cold": [], "warm": [], "explain": []}
    rss, tree = [], []
    closing = ""
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="digest-bench-") as tmp:
            state, out = Path(tmp) / "state.sqlite", Path(tmp) / "issues"
            for kind in ("cold", "warm"):  # a fresh state database, then the same one again
                wall, cpu, big, whole, stderr = digest_build(site, state, out, since)
                runs[kind].append((wall, cpu))
                rss.append(big)
                tree.append(whole)
            closing = next((line for line in stderr.splitlines() if line.startswith("Done:")), stderr.strip()[-200:])
        if count == 10_000:
            # --explain gives a reason for every file: a file far outside the range by its date line
            # alone (a date-only row, as a plain build), the others through the selection. It must not
            # summarize them all (issue 11: 41-46 s of cpu), nor parse every front matter (4-5 x cold).
            with tempfile.TemporaryDirectory(prefix="digest-bench-") as tmp:
                state, out = Path(tmp) / "state.sqlite", Path(tmp) / "issues"
                wall, cpu, _, _, _ = digest_build(site, state, out, since, explain=True)
                runs["explain"].append((wall, cpu))
    cold, cold_cpu = min(runs["cold"])
    warm, warm_cpu = min(runs["warm"])
    result: dict[str, float | str] = {
        "cold": cold, "cold_cpu": cold_cpu, "warm": warm, "warm_cpu": warm_cpu,
        "rss": max(rss), "tree_rss": max(tree), "closing": closing,
    }
    if runs["explain"]:
        result["explain"], result["explain_cpu"] = min(runs["explain"])
    if with_hugo:
        result["hugo"] = min(hugo_build(site) for _ in range(repeat + 1))
    return result


def measure_render(count: int) -> dict[str, float]:
    """Render one 50-article issue in a fresh interpreter: the first render (what a build pays) and the steady one."""
    site = make_site(count)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--render-only", str(site)]
    proc = subprocess.run(cmd, cwd=site, capture_output=True, text=True, env=child_env(), check=False)
    if proc.returncode != 0:
        raise SystemExit(f"render benchmark failed:\n{proc.stderr}")
    first, steady, articles = proc.stdout.split()
    return {"first": float(first), "steady": float(steady), "articles": float(articles)}


def render_only(site: Path) -> None:
    """(In the child) summarize the 50 newest articles, then time render_issue on them."""
    from digest.config import load_settings
    from digest.models import Issue
    from digest.pipeline import scan_content, summarize_articles
    from digest.render.issue import render_issue

    with tempfile.TemporaryDirectory(prefix="digest-bench-") as tmp:
        settings = load_settings(site / "config.yaml", overrides={"state": str(Path(tmp) / "state.sqlite")})
        articles, _, _ = scan_content(settings, since=NEWEST - timedelta(days=60), until=NEWEST + timedelta(days=1))
    newest = sorted(articles, key=lambda a: (-a.date.timestamp(), a.path))[:50]
    chosen, _ = summarize_articles(newest, settings)
    since, until = NEWEST - timedelta(days=60), NEWEST + timedelta(seconds=1)

    def issue() -> Issue:
        return Issue("bench", since, until, list(chosen), number=1)

    started = time.perf_counter()
    render_issue(issue(), settings)
    first = time.perf_counter() - started
    runs = []
    for _ in range(5):
        started = time.perf_counter()
        render_issue(issue(), settings)
        runs.append(time.perf_counter() - started)
    print(f"{first:.4f} {statistics.median(runs):.4f} {len(chosen)}")


def measure_boilerplate(count: int) -> dict[str, float]:
    """The boilerplate pass (spec §7) of the newest week's issue in a fresh interpreter: cold (the neighbours'
    sentences made from their bodies) and warm (all from the scan cache)."""
    site = make_site(count)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--boilerplate-only", str(site)]
    proc = subprocess.run(cmd, cwd=site, capture_output=True, text=True, env=child_env(), check=False)
    if proc.returncode != 0:
        raise SystemExit(f"boilerplate benchmark failed:\n{proc.stderr}")
    cold, warm, articles = proc.stdout.split()
    return {"cold": float(cold), "warm": float(warm), "articles": float(articles)}


def boilerplate_only(site: Path) -> None:
    """(In the child) scan the newest week, then time the neighbours' boilerplate of its articles, twice."""
    from digest.config import load_settings
    from digest.pipeline import scan_content
    from digest.pipeline.build import neighbour_plates

    with tempfile.TemporaryDirectory(prefix="digest-bench-") as tmp:
        settings = load_settings(site / "config.yaml", overrides={"state": str(Path(tmp) / "state.sqlite")})
        articles, _, _ = scan_content(settings, since=NEWEST - timedelta(days=7), until=NEWEST + timedelta(days=1))
        times = []
        for _ in range(2):
            started = time.perf_counter()
            neighbour_plates(articles, settings)
            times.append(time.perf_counter() - started)
    print(f"{times[0]:.4f} {times[1]:.4f} {len(articles)}")


# --- the report ---------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def report(sizes: list[int], figures: dict[int, dict[str, float | str]], render: dict[str, float] | None,
           boilerplate: dict[int, dict[str, float]] | None = None) -> None:
    rows: list[tuple[str, ...]] = []
    for count in sizes:
        f = figures[count]
        cold, warm, hugo = float(f["cold"]), float(f["warm"]), f.get("hugo")
        name = f"{count:,}"
        if isinstance(hugo, float):
            rows.append((name, "hugo --renderToMemory", f"{hugo:.2f} s", "", "", ""))
        for label, value, key in (("cold build", cold, "cold_ratio"), ("warm build", warm, "warm_ratio")):
            cpu = float(f[label.split()[0] + "_cpu"])
            ratio = f"{value / hugo:.2f} × hugo" if isinstance(hugo, float) else ""
            target, result = "", ""
            if count == 10_000 and isinstance(hugo, float):
                target, result = f"≤ {TARGETS[key]} × hugo", verdict(value <= TARGETS[key] * hugo)
            if count == 100_000:
                limit = TARGETS["cold_100k" if label.startswith("cold") else "warm_100k"]
                target, result = f"< {limit:g} s", verdict(value < limit)
            rows.append((name, label, f"{value:.2f} s (cpu {cpu:.2f} s)", ratio, target, result))
        if "explain" in f:
            explain, times = float(f["explain"]), float(f["explain"]) / cold
            limit = TARGETS["explain_ratio"]
            rows.append((name, "cold build --explain", f"{explain:.2f} s (cpu {float(f['explain_cpu']):.2f} s)",
                         f"{times:.2f} × cold build", f"≤ {limit:g} × cold build", verdict(times <= limit)))
        mem = f"{float(f['rss']):.0f} MB (all processes {float(f['tree_rss']):.0f} MB)"
        if count == 100_000:
            target, result = "< 400 MB", verdict(float(f["tree_rss"]) < TARGETS["rss_100k"])
        else:
            target, result = "", ""
        rows.append((name, "peak RSS", mem, "", target, result))
        plate = (boilerplate or {}).get(count)
        if plate is not None:
            rows.append((name, f"boilerplate pass, {int(plate['articles'])} articles",
                         f"{plate['cold'] * 1000:.0f} ms cold", f"{plate['warm'] * 1000:.0f} ms warm",
                         "(in cold/warm build)", ""))
    if render is not None:
        rows.append((f"{int(render['articles'])} articles", "render one issue (first)",
                     f"{render['first'] * 1000:.0f} ms", f"then {render['steady'] * 1000:.0f} ms",
                     f"< {TARGETS['render_50'] * 1000:.0f} ms",
                     verdict(render["first"] < TARGETS["render_50"])))
    header = ("articles", "what", "figure", "ratio", "target", "result")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    print()
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    print()
    print("Wall times are the best of --repeat runs; cpu is user+sys of digest and its workers (2 cores).")
    print("Hugo renders the same articles with taxonomies, feeds and sitemap off (see HUGO_TOML).")
    for count in sizes:
        print(f"{count:>7,}: {figures[count]['closing']}")


def main() -> None:
    parser = argparse.ArgumentParser(description="Time `digest build` on synthetic sites, next to Hugo.")
    parser.add_argument("--sizes", default="1000,10000,100000", help="comma-separated article counts")
    parser.add_argument("--repeat", type=int, default=2, help="cold+warm pairs per size; the best is kept (default 2)")
    parser.add_argument("--no-hugo", action="store_true", help="skip the Hugo timings")
    parser.add_argument("--no-render", action="store_true", help="skip the 50-article render timing")
    parser.add_argument("--render-only", metavar="SITE", help=argparse.SUPPRESS)
    parser.add_argument("--boilerplate-only", metavar="SITE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.render_only:
        render_only(Path(args.render_only))
        return
    if args.boilerplate_only:
        boilerplate_only(Path(args.boilerplate_only))
        return
    sizes = [int(s.replace("_", "").replace(",", "")) for s in args.sizes.split(",") if s.strip()]
    hugo = not args.no_hugo and shutil.which("hugo") is not None
    if not args.no_hugo and not hugo:
        print("hugo not found on PATH: `apt-get install -y hugo`, or pass --no-hugo", file=sys.stderr)
        sys.exit(2)
    if hugo:
        version = subprocess.run(["hugo", "version"], capture_output=True, text=True, check=True).stdout.strip()
        print(version, file=sys.stderr)
    print(f"{sys.version.split()[0]} on {os.cpu_count()} cores", file=sys.stderr)
    for count in sizes:
        make_site(count)
    # Once, so that Python has cached the bytecode of digest and its dependencies, as after any first run.
    subprocess.run([sys.executable, "-m", "digest", "--help"], capture_output=True, env=child_env(), check=True)
    figures = {}
    for count in sizes:
        print(f"timing {count:,} articles …", file=sys.stderr, flush=True)
        figures[count] = measure_size(count, args.repeat, hugo and count <= 10_000)
    render = None if args.no_render else measure_render(min(sizes))
    boilerplate = {count: measure_boilerplate(count) for count in sizes}
    startup = min(run_timed([sys.executable, "-m", "digest", "--help"], HERE)[0] for _ in range(5))
    report(sizes, figures, render, boilerplate)
    print(f"Start-up: `digest --help` takes {startup * 1000:.0f} ms (python -X importtime -m digest --help shows why).")


if __name__ == "__main__":
    main()
