# How fast is `digest build` on a big site, next to the floor: what any program must spend to read the
# same files (issue 13; issue 6 set the Hugo targets, issue 11 the --explain one, issue 12 the boilerplate line).
#
# From a fresh clone, on Debian/Ubuntu:
#
#     python -m venv .venv && . .venv/bin/activate
#     pip install -e .
#     sudo apt-get install -y hugo       # optional: the Hugo comparison at 10,000 articles (skipped without it)
#     python benchmarks/build.py                               # 10,000 and 100,000 articles, both site shapes
#     python benchmarks/build.py --sizes 10000 --runs 5        # one size
#     python benchmarks/build.py --quick                       # 10,000 articles, 3 runs, the main cases only
#
# It writes synthetic sites under benchmarks/_sites/ (gitignored; about 80 MB per 10,000 articles and shape,
# 0.8 GB per 100,000; reused while GENERATOR_VERSION matches). Two shapes: "fixed", whose newest week holds
# ISSUE_SIZE (48) articles at every size, like a long-running site's weekly issue, and "uniform", whose dates
# spread evenly over three years, so that the newest week grows with the site (about 64 at 10,000, 640 at
# 100,000).
#
# Every figure is a whole process, timed from spawn to exit (interpreter start-up, imports and exit
# included, as a user waits for it), run --runs times, interleaved: each repetition runs every case once,
# round-robin, starting one case later each time, so that the load of a shared machine falls on all cases
# alike. Printed: the median and the min of the wall times, the median CPU time (user + sys of the process
# and of its pool workers), and the peak memory summed over the process tree, from /proc: the RSS summed
# (every 10 ms), which the memory target judges and which counts the pages forked workers share once per
# process, the PSS summed (every 100 ms: it costs more to read), which splits them, and the largest single
# process. Ratios are of the wall medians (of the mins in brackets), and of the median CPU times. The cases:
#
#   floor: read files whole   a Python process that walks content/ and reads every file whole
#   floor: read 8 KB heads    one that opens, fstats and reads the first QUICK_BYTES of every file, as a cold
#                             digest scan must at least do to learn each date (digest/content/date_line.py)
#   floor: digest --help      start-up: the interpreter and digest's command-line imports
#   cold build                `digest build --since <newest week> --until <just after it>` with a fresh state
#                             database (no scan cache); the files themselves are in the page cache, as after
#                             the floor's reads: "cold" is digest's state, not the disk's
#   warm build                the same again on the same state, nothing changed (cache hits everywhere)
#   weekly build              the real weekly run: the state of last week's build, made while this week's posts
#                             did not exist yet (a copy of the site's content tree, hard links, without the newest
#                             week), restored before each run; then this week's posts are there and the timed
#                             build covers them
#   cold build --explain      cold, listing every file with its reason
#   cold build, window only   cold, on a tree holding only the files the issue reads whole: the newest week's and
#                             their neighbours (the NEIGHBOURS articles dated just before the week; hard links).
#                             What a cold build costs whatever the site's size (start-up, summarizing, boilerplate,
#                             rendering, writing), beside the floor of the whole site: the part of the cold target
#                             no scan can win back
#   boilerplate pass          (spec §7, issue 12) `neighbour_plates` for the newest week's articles, timed inside
#                             a process after a cold scan: cold (every neighbour's sentence fingerprints made
#                             from its body, as in a cold build) and warm (all from the scan cache)
#   hugo --renderToMemory     Hugo on the same content, minimal layouts (sites of 10,000 articles or fewer)
#
# The render-only line of earlier versions is gone: the render benchmark (benchmarks/render.py) times a
# 50-article issue with its floor.
# The cold, warm and weekly builds must make the same issue: checked after every run (the script exits 1 if not).

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from _common import Figures, Run, cpu, interleaved, load_note, run_process, seconds, table, verdict, wall

from digest.content.date_line import QUICK_BYTES
from digest.summarize.neighbours import NEIGHBOURS

HERE = Path(__file__).resolve().parent
SITES = HERE / "_sites"
GENERATOR_VERSION = "2"  # bump when the generated content changes, so old sites are rebuilt
ISSUE_SIZE = 48
NEWEST = datetime(2025, 7, 5, 11, 10, 4, tzinfo=timezone(timedelta(hours=8)))
SPAN = timedelta(days=3 * 365)
WEEK = timedelta(days=7)
# This week's issue: [SINCE, UNTIL), the newest article included; last week's: the week before.
SINCE, UNTIL = NEWEST - WEEK, NEWEST + timedelta(seconds=1)
LAST_WEEK = (NEWEST - 2 * WEEK, SINCE)
SHAPES = ("fixed", "uniform")

TARGETS = {
    "cold_floor": 3.0,  # cold build / reading every file whole (10,000 and 100,000 articles; issue 13)
    "warm_help": 1.5,  # warm build / `digest --help` (issue 13)
    "weekly_warm": 2.0,  # weekly build / warm build (issue 13)
    "memory_100k": 150.0,  # MB, RSS summed over the process tree, cold, warm and weekly (issue 13)
    "cold_hugo": 0.3,  # 10,000 articles: cold build / hugo (issue 6)
    "warm_hugo": 0.1,  # 10,000 articles: warm build / hugo (issue 6)
    "explain_cold": 2.0,  # cold build --explain / cold build (issue 11)
    "cold_100k": 8.0,  # seconds (issue 6)
    "warm_100k": 1.5,  # seconds (issue 6)
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
    """The fixed shape: ISSUE_SIZE dates in the newest week, the rest spread over the three years before it."""
    recent = min(ISSUE_SIZE, count)
    dates = [NEWEST - timedelta(seconds=rng.uniform(0, WEEK.total_seconds() - 3600)) for _ in range(recent - 1)]
    dates.append(NEWEST)
    older = SPAN - WEEK
    dates += [NEWEST - WEEK - timedelta(seconds=rng.uniform(60, older.total_seconds())) for _ in range(count - recent)]
    return [d.replace(microsecond=0) for d in dates]


def uniform_dates(count: int, rng: random.Random) -> list[datetime]:
    """The uniform shape: dates spread evenly over three years, so the newest week grows with the site."""
    dates = [NEWEST - timedelta(seconds=rng.uniform(0, SPAN.total_seconds())) for _ in range(count - 1)]
    dates.append(NEWEST)
    return [d.replace(microsecond=0) for d in dates]


DATES = {"fixed": article_dates, "uniform": uniform_dates}


def site_plan(count: int, shape: str) -> tuple[list[tuple[str, datetime]], random.Random]:
    """(every article's path under content/ and date, the generator's random state after the dates).

    Drawn again from the seed whenever needed, so that the newest week's files are known without a list on disk.
    """
    rng = random.Random(count if shape == "fixed" else f"uniform-{count}")
    dates = DATES[shape](count, rng)
    return [(f"posts/{when.year}/{when:%Y-%m-%d}-post-{i:06d}.md", when) for i, when in enumerate(dates)], rng


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


@dataclass
class Site:
    """A generated site: its folder, content/ in it, every article's path, the newest week's, and the bytes."""

    count: int
    shape: str
    root: Path
    paths: list[str]
    newest: list[str]
    window: list[str]  # the newest week's and the NEIGHBOURS articles dated just before it
    size: int = 0

    @property
    def content(self) -> Path:
        return self.root / "content"

    @property
    def name(self) -> str:
        return f"{self.count:,} articles, {self.shape} shape"


def make_site(count: int, shape: str) -> Site:
    """benchmarks/_sites/site-COUNT[-uniform] with content/, config.yaml (digest) and hugo.toml + layouts (Hugo)."""
    root = SITES / (f"site-{count}" if shape == "fixed" else f"site-{count}-{shape}")
    stamp = root / ".complete"
    plan, rng = site_plan(count, shape)
    if not (stamp.exists() and stamp.read_text() == GENERATOR_VERSION):
        if root.exists():
            shutil.rmtree(root)
        print(f"generating {count:,} articles ({shape}) in {root} …", file=sys.stderr, flush=True)
        started = time.perf_counter()
        posts = root / "content"
        for index, (rel, when) in enumerate(plan):
            path = posts / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(article_text(rng, index, when), encoding="utf-8")
        (root / "config.yaml").write_text(DIGEST_CONFIG, encoding="utf-8")
        (root / "hugo.toml").write_text(HUGO_TOML, encoding="utf-8")
        layouts = root / "layouts" / "_default"
        layouts.mkdir(parents=True, exist_ok=True)
        (layouts / "single.html").write_text(SINGLE_HTML, encoding="utf-8")
        (layouts / "list.html").write_text(LIST_HTML, encoding="utf-8")
        stamp.write_text(GENERATOR_VERSION)
        print(f"  done in {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    by_date = sorted((when, rel) for rel, when in plan)
    first = next(i for i, (when, _) in enumerate(by_date) if when >= SINCE)
    window = [rel for _, rel in by_date[max(first - NEIGHBOURS, 0):]]
    site = Site(count, shape, root, [rel for rel, _ in plan], [rel for rel, when in plan if when >= SINCE], window)
    site.size = sum((site.content / rel).stat().st_size for rel in site.paths)
    return site


def last_week_tree(site: Site) -> Path:
    """The weekly case's own content tree (hard links to content/), as it was before this week's posts existed.

    Its own tree, so the site's content/ is never incomplete, even if a run is killed; hard links, so the
    files are the same inodes (same bytes, same mtime, same page cache) as the other cases read.
    """
    tree = site.root / "weekly" / "content"
    newest = set(site.newest)
    for rel in site.paths:
        link = tree / rel
        if rel in newest:
            link.unlink(missing_ok=True)
        elif not link.exists():
            link.parent.mkdir(parents=True, exist_ok=True)
            os.link(site.content / rel, link)
    return tree


def window_tree(site: Site) -> Path:
    """The window-only case's content tree: hard links to the newest week's files and their neighbours."""
    tree = site.root / "window" / "content"
    for rel in site.window:
        link = tree / rel
        if not link.exists():
            link.parent.mkdir(parents=True, exist_ok=True)
            os.link(site.content / rel, link)
    return tree


def add_this_week(site: Site, tree: Path) -> None:
    """This week's posts appear in the weekly tree (after last week's build ran on it)."""
    for rel in site.newest:
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        os.link(site.content / rel, tree / rel)


# --- measuring ----------------------------------------------------------------------------------

# The floors: plain Python, no digest imports, the same interpreter digest runs on.
READ_WHOLE = """\
import os, sys
for folder, _, names in os.walk(sys.argv[1]):
    for name in names:
        with open(os.path.join(folder, name), "rb") as fh:
            fh.read()
"""
READ_HEADS = """\
import os, sys
head = int(sys.argv[2])
for folder, _, names in os.walk(sys.argv[1]):
    for name in names:
        fd = os.open(os.path.join(folder, name), os.O_RDONLY)
        try:
            os.fstat(fd)  # size and mtime: what the scan cache keys a file on
            os.read(fd, head)
        finally:
            os.close(fd)
"""
CASES = ("read whole", "read heads", "help", "cold", "window", "warm", "weekly", "explain", "boilerplate", "hugo")


def build_cmd(site: Site, content: Path, work: Path, since: datetime, until: datetime, *extra: str) -> list[str]:
    """`digest build` as a user runs it, with its state database and issues folder in `work`."""
    return [sys.executable, "-m", "digest", "build", "--since", since.isoformat(), "--until", until.isoformat(),
            "--config", str(site.root / "config.yaml"), "--content", str(content),
            "--state", str(work / "state.sqlite"), "--out", str(work / "issues"), *extra]


def issue_articles(work: Path, since: datetime) -> frozenset[str]:
    """The articles (cards and the list after them) of the issue starting at `since` in work/issues/."""
    for manifest in (work / "issues").glob("*.json"):
        data = json.loads(manifest.read_text(encoding="utf-8"))
        if isinstance(data, dict) and datetime.fromisoformat(str(data.get("since"))) == since:
            return frozenset(str(a["path"]) for key in ("articles", "more") for a in data.get(key, []))
    raise SystemExit(f"no issue starting {since.isoformat()} in {work / 'issues'}")


@dataclass
class Measured:
    """One site's runs by case, and what the builds said."""

    site: Site
    runs: dict[str, list[Run]]
    issues: dict[str, set[frozenset[str]]] = field(default_factory=dict)  # case: the articles of its issues
    last_week: frozenset[str] = frozenset()  # last week's issue (the weekly case's starting state)
    closing: dict[str, str] = field(default_factory=dict)  # case: digest's closing "Done: …" line
    plates: dict[str, list[float]] = field(default_factory=dict)  # "cold"/"warm": boilerplate pass seconds
    plated: int = 0  # the articles the boilerplate pass judged


def closing_line(run: Run) -> str:
    return next((line for line in run.stderr.splitlines() if line.startswith("Done:")), run.stderr.strip()[-200:])


def measure_site(site: Site, runs: int, cases: Sequence[str], scratch: Path) -> Measured:
    """Prepare the warm and weekly states (untimed), then run the cases interleaved."""
    root, py = site.root, sys.executable
    found = Measured(site, {})

    def fresh() -> Path:
        return Path(tempfile.mkdtemp(dir=scratch))

    def built(case: str, cmd: list[str], work: Path) -> Run:
        run = run_process(cmd, root)
        found.issues.setdefault(case, set()).add(issue_articles(work, SINCE))
        found.closing[case] = closing_line(run)
        return run

    def cold() -> Run:
        work = fresh()
        try:
            return built("cold", build_cmd(site, site.content, work, SINCE, UNTIL), work)
        finally:
            shutil.rmtree(work)

    window = window_tree(site) if "window" in cases else site.content

    def window_only() -> Run:
        work = fresh()
        try:
            return built("window", build_cmd(site, window, work, SINCE, UNTIL), work)
        finally:
            shutil.rmtree(work)

    warm_work = fresh()
    for _ in range(2):  # a cold build, then a warm one: whatever a build leaves for the next is there
        run_process(build_cmd(site, site.content, warm_work, SINCE, UNTIL), root)

    def warm() -> Run:
        return built("warm", build_cmd(site, site.content, warm_work, SINCE, UNTIL), warm_work)

    tree = last_week_tree(site)
    last_week = fresh()
    run_process(build_cmd(site, tree, last_week, *LAST_WEEK), root)
    found.last_week = issue_articles(last_week, LAST_WEEK[0])
    add_this_week(site, tree)

    def weekly() -> Run:
        work = fresh()
        try:
            shutil.copytree(last_week, work, dirs_exist_ok=True)
            return built("weekly", build_cmd(site, tree, work, SINCE, UNTIL), work)
        finally:
            shutil.rmtree(work)

    def explain() -> Run:
        work = fresh()
        try:
            return run_process(build_cmd(site, site.content, work, SINCE, UNTIL, "--explain"), root)
        finally:
            shutil.rmtree(work)

    def boilerplate() -> Run:
        run = run_process([py, str(Path(__file__).resolve()), "--boilerplate-only", str(root)], root, capture=True)
        cold_s, warm_s, articles = run.stdout.split()
        found.plated = int(articles)
        found.plates.setdefault("cold", []).append(float(cold_s))
        found.plates.setdefault("warm", []).append(float(warm_s))
        return run

    every: dict[str, Callable[[], Run]] = {
        "read whole": lambda: run_process([py, "-c", READ_WHOLE, str(site.content)], root),
        "read heads": lambda: run_process([py, "-c", READ_HEADS, str(site.content), str(QUICK_BYTES)], root),
        "help": lambda: run_process([py, "-m", "digest", "--help"], root),
        "cold": cold,
        "window": window_only,
        "warm": warm,
        "weekly": weekly,
        "explain": explain,
        "boilerplate": boilerplate,
        "hugo": lambda: run_process(["hugo", "--renderToMemory", "--quiet", "--source", str(root)], root),
    }
    chosen = {name: every[name] for name in cases}
    for name in ("read whole", "read heads", "help"):  # once untimed: the page cache and bytecode, as after any run
        every[name]()
    found.runs = interleaved(chosen, runs, label=f"{site.name}: ")
    return found


def boilerplate_only(root: Path) -> None:
    """(In the child) scan the newest week, then time the neighbours' boilerplate of its articles, twice."""
    from digest.config import load_settings
    from digest.pipeline.build import neighbour_plates, scan_content

    with tempfile.TemporaryDirectory(prefix="digest-bench-") as tmp:
        settings = load_settings(root / "config.yaml", overrides={"state": str(Path(tmp) / "state.sqlite")})
        articles, _, _ = scan_content(settings, since=SINCE, until=UNTIL)
        times = []
        for _ in range(2):
            started = time.perf_counter()
            neighbour_plates(articles, settings)
            times.append(time.perf_counter() - started)
    print(f"{times[0]:.4f} {times[1]:.4f} {len(articles)}")


# --- the report ---------------------------------------------------------------------------------

HEADER = ("what", "median", "min", "cpu (median)", "peak MB: Σ RSS / Σ PSS / largest", "ratio of medians (of mins)",
          "cpu ratio", "target", "result")
LABELS = {
    "read whole": "floor: read files whole",
    "read heads": f"floor: read {QUICK_BYTES // 1024} KB heads",
    "help": "floor: digest --help",
    "cold": "cold build",
    "warm": "warm build",
    "weekly": "weekly build",
    "explain": "cold build --explain",
    "window": "cold build, window only",
    "hugo": "hugo --renderToMemory",
}
SHORT = {"read whole": "read whole", "read heads": "read heads", "help": "--help", "cold": "cold", "warm": "warm",
         "hugo": "hugo"}


def memory(runs: Sequence[Run]) -> str:
    """The peaks over the runs: Σ RSS / Σ PSS / largest process, in MB."""
    return " / ".join(f"{max(getattr(x, key) for x in runs):.0f}" for key in ("rss_sum", "pss_sum", "largest"))


def site_rows(m: Measured) -> list[list[str]]:
    """The table's rows for one site: each case with its ratio and target, then the other targets."""
    runs, count = m.runs, m.site.count
    rows: list[list[str]] = [[f"{m.site.name}: {len(m.site.paths):,} files, {m.site.size / 1e6:.0f} MB, "
                              f"{len(m.site.newest)} in the newest week"]]

    def compared(case: str, base: str, limit: float | None = None) -> list[str]:
        """[ratio of medians (of mins), ratio of median CPU times, target, result] of `case` against `base`."""
        a, b = wall(runs[case]), wall(runs[base])
        on_cpu = cpu(runs[case]).ratio(cpu(runs[base]))
        cells = [f"{a.ratio(b):.2f} × {SHORT[base]} ({a.min / b.min:.2f})", f"{on_cpu:.2f}"]
        if limit is None:
            return [*cells, "", ""]
        return [*cells, f"≤ {limit:g} × {SHORT[base]}", verdict(a.ratio(b) <= limit)]

    judged = {"cold": ("read whole", TARGETS["cold_floor"]), "warm": ("help", TARGETS["warm_help"]),
              "weekly": ("warm", TARGETS["weekly_warm"]), "explain": ("cold", TARGETS["explain_cold"])}
    judged["window"] = ("read whole", None)  # beside the whole site's floor, judged by nothing: it explains "cold"
    also = [("cold", "read heads", None)]
    if "hugo" in runs:
        also += [("cold", "hugo", TARGETS["cold_hugo"] if count == 10_000 else None),
                 ("warm", "hugo", TARGETS["warm_hugo"] if count == 10_000 else None)]
    for case in (c for c in CASES if c in runs and c != "boilerplate"):
        base, limit = judged.get(case, ("", None))
        cells = compared(case, base, limit) if base in runs else ["", "", "", ""]
        rows.append([LABELS[case], *seconds(wall(runs[case])), f"{cpu(runs[case]).median:.3f} s", memory(runs[case]),
                     *cells])
    for case, base, limit in also:
        if case in runs:
            rows.append([f"  {LABELS[case]} vs {SHORT[base]}", "", "", "", "", *compared(case, base, limit)])
    if count == 100_000:
        for case, key in (("cold", "cold_100k"), ("warm", "warm_100k")):
            if case in runs:
                value = wall(runs[case]).median
                rows.append([f"  {LABELS[case]}, median", f"{value:.3f} s", "", "", "", "", "",
                             f"< {TARGETS[key]:g} s", verdict(value < TARGETS[key])])
        builds = [x for case in ("cold", "warm", "weekly") for x in runs.get(case, [])]
        if builds:
            peak = max(x.rss_sum for x in builds)
            rows.append(["  peak memory (cold, warm, weekly)", "", "", "", memory(builds), "", "",
                         f"< {TARGETS['memory_100k']:g} MB Σ RSS", verdict(peak < TARGETS["memory_100k"])])
    for kind in m.plates:
        rows.append([f"boilerplate pass, {kind}, {m.plated} articles", *seconds(Figures.of(m.plates[kind])),
                     "", "", "(timed inside a process)", "", "", ""])
    return rows


def check_issues(m: Measured) -> list[str]:
    """Lines saying which issue the builds made; a line starting "MISMATCH" when they do not agree."""
    made = {frozenset(a) for issues in m.issues.values() for a in issues}
    sizes = ", ".join(f"{case} {sorted(len(a) for a in issues)}" for case, issues in m.issues.items())
    lines = [f"{m.site.name}: articles in this week's issue: {sizes}; in last week's: {len(m.last_week)}"]
    if len(made) > 1:
        lines.append(f"MISMATCH: the builds of {m.site.name} did not all make the same issue")
    if m.last_week & set().union(*made):
        lines.append(f"MISMATCH: last week's issue of {m.site.name} holds articles of this week")
    lines += [f"  {case}: {text}" for case, text in m.closing.items()]
    return lines


def report(measured: list[Measured], runs: int) -> bool:
    """Print the table and the issues the builds made; False when the builds did not agree."""
    rows = [row for m in measured for row in site_rows(m)]
    print()
    print(table(HEADER, rows))
    print()
    print(f"Medians and mins of {runs} interleaved runs of each whole process; ratios are of medians (of mins).")
    print("cpu is user + sys of the process and its pool workers; memory is the peak over the runs of the sum")
    print("over the process tree (RSS every 10 ms, counting shared pages once per process; PSS every 100 ms).")
    lines = [line for m in measured for line in check_issues(m)]
    print("\n".join(lines))
    return not any(line.startswith("MISMATCH") for line in lines)


def main() -> None:
    parser = argparse.ArgumentParser(description="Time `digest build` on synthetic sites, next to the floor and Hugo.")
    parser.add_argument("--sizes", help="comma-separated article counts (default 10000,100000; --quick: 10000)")
    parser.add_argument("--shapes", default=",".join(SHAPES), help="fixed, uniform or both (default both)")
    parser.add_argument("--runs", type=int, help="interleaved runs of every case (default 5; --quick: 3)")
    parser.add_argument("--quick", action="store_true", help="floors, cold, warm and weekly only")
    parser.add_argument("--no-hugo", action="store_true", help="skip the Hugo timings")
    parser.add_argument("--boilerplate-only", metavar="SITE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.boilerplate_only:
        boilerplate_only(Path(args.boilerplate_only))
        return
    sizes = [int(s.replace("_", "")) for s in (args.sizes or ("10000" if args.quick else "10000,100000")).split(",")]
    shapes = [s.strip() for s in args.shapes.split(",") if s.strip()]
    if unknown := set(shapes) - set(SHAPES):
        parser.error(f"unknown shape {', '.join(sorted(unknown))}: choose from {', '.join(SHAPES)}")
    runs = args.runs or (3 if args.quick else 5)
    cases = [c for c in CASES if not (args.quick and c in ("explain", "boilerplate", "hugo"))]
    hugo = shutil.which("hugo") is not None and not args.no_hugo and "hugo" in cases
    if "hugo" in cases and not hugo:
        print("hugo: skipped (" + ("--no-hugo" if args.no_hugo else "not on PATH: apt-get install -y hugo") + ")",
              file=sys.stderr)
    if hugo and min(sizes) <= 10_000:
        print(subprocess.run(["hugo", "version"], capture_output=True, text=True, check=True).stdout.strip(),
              file=sys.stderr)
    print(load_note(), file=sys.stderr)
    sites = [make_site(count, shape) for count in sizes for shape in shapes]
    measured = []
    scratch = Path(tempfile.mkdtemp(prefix="digest-bench-"))
    try:
        for site in sites:
            chosen = [c for c in cases if c != "hugo" or (hugo and site.count <= 10_000)]
            measured.append(measure_site(site, runs, chosen, scratch))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    agreed = report(measured, runs)
    print(load_note())
    if not agreed:
        sys.exit(1)


if __name__ == "__main__":
    main()
