"""Real content: the labelled corpus, Jekyll's release posts, Hugo's docs and a Chinese Hugo blog."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from click.testing import CliRunner

from digest.cli.main import cli

FIXTURES = Path(__file__).parents[1] / "fixtures"
DEV = FIXTURES / "dev"
REAL = FIXTURES / "real"
TEMPLATE_SYNTAX = re.compile(r"\{\{|\}\}|\{%|%\}")


def labels_config(tmp_path: Path, content: Path) -> Path:
    """A config.yaml with the settings labels.json names."""
    labels = json.loads((DEV / "labels.json").read_text(encoding="utf-8"))["config"]
    config = {
        "site": {"base_url": labels["site"]["base_url"], "timezone": labels["timezone"],
                 "permalink": labels["permalink"]},
        "summary": {"tldr_max_chars": labels["tldr_max_chars"]},
        "content": str(content),
        "out": str(tmp_path / "issues"),
        "state": str(tmp_path / "state.sqlite"),
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "digest", *args], capture_output=True, text=True, timeout=600)


def test_summarize_agrees_with_labels_on_every_article(tmp_path: Path) -> None:
    """`digest summarize DIR --json` scores perfectly against labels.json, bad files included."""
    content = DEV / "content"
    cfg = labels_config(tmp_path, content)
    out = run("summarize", str(content), "--json", "--config", str(cfg))
    assert out.returncode == 0, out.stderr
    checker = subprocess.run(
        [sys.executable, str(FIXTURES / "check_labels.py"), str(content), str(DEV / "labels.json")],
        input=out.stdout, capture_output=True, text=True,
    )
    assert checker.returncode == 0, checker.stdout


def test_check_lists_exactly_the_files_labels_mark_as_errors(tmp_path: Path) -> None:
    """`digest check` over the dev corpus names exactly the labelled error files, and exits 1."""
    cfg = labels_config(tmp_path, DEV / "content")
    result = run("check", "--config", str(cfg))
    assert result.returncode == 1
    labels = json.loads((DEV / "labels.json").read_text(encoding="utf-8"))["articles"]
    expected = {a["path"].rstrip("/") for a in labels if "error" in a}
    named = {line.split(":", 1)[0].rstrip("/") for line in result.stdout.splitlines() if ": " in line}
    assert named == expected, result.stdout


def test_check_names_unknown_config_key_with_suggestion(tmp_path: Path) -> None:
    """An unknown key in config.yaml is reported with a 'did you mean'."""
    cfg = tmp_path / "config.yaml"
    cfg.write_text("site:\n  base_ulr: https://x.example\ncontent: .\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["check", "--config", str(cfg)])
    assert result.exit_code == 1
    assert "did you mean 'site.base_url'" in result.output


def jekyll_expected_url(path: Path) -> str:
    """jekyllrb.com's address for a post: /news/YYYY/MM/DD/title/, the day taken in Los Angeles."""
    text = path.read_text(encoding="utf-8")
    front = yaml.safe_load(text.split("---", 2)[1]) or {}
    when = front.get("date")
    slug = re.sub(r"^\d{4}-\d{2}-\d{2}-", "", path.stem)
    la = ZoneInfo("America/Los_Angeles")
    if isinstance(when, datetime):
        moment = when if when.tzinfo else when.replace(tzinfo=la)
    elif when:
        # Jekyll reads dates loosely (one post says `2023-01-29 18:30:22 2023 -0800`).
        stamp = re.match(r"(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})", str(when))
        offset = re.search(r"([+-]\d{4})$", str(when))
        assert stamp and offset, when
        moment = datetime.strptime(f"{stamp[1]} {offset[1]}", "%Y-%m-%d %H:%M:%S %z")
    else:
        moment = datetime.strptime(path.stem[:10], "%Y-%m-%d").replace(tzinfo=la)
    day = moment.astimezone(la)
    return f"https://jekyllrb.com/news/{day:%Y/%m/%d}/{slug}/"


def test_init_in_jekyll_site_gives_every_post_its_jekyllrb_address(tmp_path: Path) -> None:
    """After `digest init` in Jekyll's site, every post's URL is its address on jekyllrb.com."""
    site = REAL / "jekyll-posts"
    cfg = tmp_path / "config.yaml"
    result = run("init", str(site), "-o", str(cfg))
    assert result.returncode == 0, result.stderr
    settings = yaml.safe_load(cfg.read_text(encoding="utf-8"))
    assert settings["site"]["timezone"] == "America/Los_Angeles"
    out = run("summarize", str(site / "_posts"), "--json", "--config", str(cfg))
    assert out.returncode == 0, out.stderr
    rows = {r["path"]: r for r in json.loads(out.stdout)}
    posts = sorted((site / "_posts").glob("*.markdown")) + sorted((site / "_posts").glob("*.md"))
    assert len(rows) == len(posts)
    for post in posts:
        row = rows[post.name]
        assert "error" not in row, row
        assert row["url"] == jekyll_expected_url(post), post.name
        assert not TEMPLATE_SYNTAX.search(row["tldr"]), (post.name, row["tldr"])


@pytest.mark.parametrize("site", ["jekyll-posts", "servicemesher-blog"])
def test_build_over_real_site_completes(tmp_path: Path, site: str) -> None:
    """`digest build --since 2000-01-01` over a real blog completes and carries its posts."""
    root = REAL / site
    cfg = tmp_path / "config.yaml"
    assert run("init", str(root), "-o", str(cfg)).returncode == 0
    result = run("build", "--since", "2000-01-01", "--until", "2030-01-01", "--json", "--config", str(cfg),
                 "--out", str(tmp_path / "issues"), "--state", str(tmp_path / "state.sqlite"))
    assert result.returncode == 0, result.stderr[-2000:]
    manifest = json.loads(result.stdout)
    html = Path(manifest["files"]["html"]).read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    if site == "jekyll-posts":
        assert len(manifest["articles"]) == len(list((root / "_posts").iterdir()))
    else:
        assert len(manifest["articles"]) == 300


def test_build_over_hugo_docs_lists_twenty_reasons_and_a_count(tmp_path: Path) -> None:
    """Hugo's docs have no dates: the build completes, prints the first 20 reasons and counts the rest."""
    root = REAL / "hugo-docs"
    cfg = tmp_path / "config.yaml"
    assert run("init", str(root), "-o", str(cfg)).returncode == 0
    result = run("build", "--since", "2000-01-01", "--config", str(cfg),
                 "--out", str(tmp_path / "issues"), "--state", str(tmp_path / "state.sqlite"))
    assert result.returncode == 0, result.stderr[-2000:]
    reasons = [line for line in result.stderr.splitlines() if line.startswith("Warning: ")]
    assert len(reasons) == 20 and all("no usable date" in r for r in reasons)
    more = [line for line in result.stderr.splitlines() if "more files skipped" in line]
    assert len(more) == 1 and int(more[0].split()[2]) > 800


def test_servicemesher_boxes_hold_exactly_the_hand_judged_figures(tmp_path: Path) -> None:
    """Over the Chinese blog, key figures are exactly figures.json: versions, years and steps are not."""
    root = REAL / "servicemesher-blog"
    cfg = tmp_path / "config.yaml"
    assert run("init", str(root), "-o", str(cfg)).returncode == 0
    out = run("summarize", str(root / "content"), "--json", "--config", str(cfg))
    assert out.returncode == 0, out.stderr
    got = {r["path"].rstrip("/"): [f["value"] for f in r.get("key_figures", [])]
           for r in json.loads(out.stdout) if r.get("key_figures")}
    want = json.loads((root / "figures.json").read_text(encoding="utf-8"))["figures"]
    assert got == want


# The kinds of bold that the issue found passing as figures on real blogs (spec §5's exclusions).
JUNK_FIGURE = re.compile(
    r"=|->|<-|→|←|^--?[A-Za-z]"  # notation and flags
    r"|\b\d{7,}\b"  # chat-group and order numbers
    r"|\b(?:19|20)\d\d [A-Za-z]"  # a year before a word
    r"|[A-Za-z]\d+[A-Za-z]?-|\d[A-Za-z]-[A-Za-z]\d"  # names that mix letters and digits
    r"|\bmin(?:ute)?s? read\b|阅读|本文|\bwords\b",  # reading time and length
)


def test_jekyll_posts_give_exactly_their_one_figure(tmp_path: Path) -> None:
    """Jekyll's release posts bold one measure (`from 12s to 2s`); no date, count or step is a figure."""
    site = REAL / "jekyll-posts"
    cfg = tmp_path / "config.yaml"
    assert run("init", str(site), "-o", str(cfg)).returncode == 0
    out = run("summarize", str(site / "_posts"), "--json", "--config", str(cfg))
    assert out.returncode == 0, out.stderr
    got = {r["path"]: [f["value"] for f in r["key_figures"]] for r in json.loads(out.stdout) if r.get("key_figures")}
    assert got == {"2018-01-02-jekyll-3-7-0-released.md": ["from 12s to 2s"]}


def test_no_junk_figure_in_the_labelled_or_real_articles(tmp_path: Path) -> None:
    """Reading times, template lines, group numbers, flags, notation, names and years never reach the box."""
    rows = json.loads(run("summarize", str(DEV / "content"), "--json",
                          "--config", str(labels_config(tmp_path, DEV / "content"))).stdout)
    root = REAL / "servicemesher-blog"
    cfg = tmp_path / "sm.yaml"
    assert run("init", str(root), "-o", str(cfg)).returncode == 0
    rows += json.loads(run("summarize", str(root / "content"), "--json", "--config", str(cfg)).stdout)
    values = [f["value"] for r in rows for f in r.get("key_figures", [])]
    assert values and not [v for v in values if JUNK_FIGURE.search(v)]
    contexts = [f["context"] for r in rows for f in r.get("key_figures", [])]
    assert not [c for c in contexts if re.search(r"本文 ?\d+ ?字|钉钉群", c)]
