"""`digest init` and `digest check` on a site's own configuration: base URL, languages, placeholder links."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml
from click.testing import CliRunner
from sitegen import write_article, write_config

from digest.cli.main import cli

MONDAY = datetime(2025, 7, 7, 8, 0, tzinfo=ZoneInfo("Asia/Shanghai"))

MULTILINGUAL = """\
baseURL = "https://sofastack.example.cn/"
title = "SOFAStack"
defaultContentLanguage = "zh"

[languages.zh]
  contentDir = "content/zh"
  languageCode = "zh-CN"
  weight = 1
[languages.en]
  contentDir = "content/en"
  languageCode = "en-US"
  title = "SOFAStack (English)"
  weight = 2
"""


def digest(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "digest", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def hugo_site(root: Path, config: str) -> Path:
    """A Hugo site: its hugo.toml and one post in a nested section of each language folder."""
    (root / "hugo.toml").write_text(config, encoding="utf-8")
    for lang, slug in (("zh", "20220923"), ("en", "hello")):
        post = root / "content" / lang / "blog" / "sofa-weekly" / f"{slug}.md"
        post.parent.mkdir(parents=True)
        post.write_text(f"---\ntitle: Weekly {slug}\ndate: 2022-09-23T10:00:00+08:00\n---\n\nNews.\n",
                        encoding="utf-8")
        (post.parent / "_index.md").write_text("---\ntitle: SOFA Weekly\n---\n", encoding="utf-8")
    return root


def urls(cwd: Path, folder: str, *config: str) -> dict[str, str]:
    out = digest(cwd, "summarize", folder, "--json", *config)
    assert out.returncode == 0, out.stderr
    return {row["path"]: row["url"] for row in json.loads(out.stdout)}


def test_init_refuses_an_empty_base_url_and_asks_for_the_flag(tmp_path: Path) -> None:
    """`baseURL = ""`: init exits 1 naming baseURL and --base-url, writes nothing; with the flag it writes it."""
    hugo_site(tmp_path, MULTILINGUAL.replace('"https://sofastack.example.cn/"', '""'))
    refused = digest(tmp_path, "init")
    assert refused.returncode == 1, refused.stdout
    assert "baseURL is empty" in refused.stderr and "--base-url" in refused.stderr, refused.stderr
    assert not (tmp_path / "config.yaml").exists()
    done = digest(tmp_path, "init", "--base-url", "https://sofa.example.net/")
    assert done.returncode == 0, done.stderr
    site = yaml.safe_load((tmp_path / "config.yaml").read_text(encoding="utf-8"))["site"]
    assert site["base_url"] == "https://sofa.example.net/"


def test_init_refuses_a_jekyll_site_without_url(tmp_path: Path) -> None:
    """A Jekyll `_config.yml` without `url` is the same error, named by Jekyll's key."""
    (tmp_path / "_config.yml").write_text("title: Blog\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["init", str(tmp_path)])
    assert result.exit_code == 1
    assert "url is empty" in result.stderr and "--base-url" in result.stderr


def test_init_refuses_a_base_url_flag_that_is_not_a_web_address(tmp_path: Path) -> None:
    """`--base-url blog.example.org` (no scheme) is refused before anything is written."""
    hugo_site(tmp_path, MULTILINGUAL)
    result = CliRunner().invoke(cli, ["init", str(tmp_path), "--base-url", "blog.example.org"])
    assert result.exit_code == 1 and "--base-url" in result.stderr
    assert not (tmp_path / "config.yaml").exists()


def test_init_on_a_multilingual_hugo_site_gives_the_sites_own_urls(tmp_path: Path) -> None:
    """The default language's contentDir, no /zh/ in URLs, nested sections kept; --language en under /en/."""
    hugo_site(tmp_path, MULTILINGUAL)
    assert digest(tmp_path, "init").returncode == 0
    config = yaml.safe_load((tmp_path / "config.yaml").read_text(encoding="utf-8"))
    assert config["content"] == "content/zh" and config["site"]["language"] == "zh-CN"
    assert urls(tmp_path, "content/zh") == {
        "blog/sofa-weekly/20220923.md": "https://sofastack.example.cn/blog/sofa-weekly/20220923/"
    }
    english = digest(tmp_path, "init", "--language", "en", "-o", "digest-en.yaml")
    assert english.returncode == 0, english.stderr
    config = yaml.safe_load((tmp_path / "digest-en.yaml").read_text(encoding="utf-8"))
    assert config["content"] == "content/en" and config["out"] == "issues-en"
    assert config["site"]["title"] == "SOFAStack (English)"
    assert urls(tmp_path, "content/en", "--config", "digest-en.yaml") == {
        "blog/sofa-weekly/hello.md": "https://sofastack.example.cn/en/blog/sofa-weekly/hello/"
    }
    unknown = digest(tmp_path, "init", "--language", "fr", "-o", "fr.yaml")
    assert unknown.returncode == 1 and "en, zh" in unknown.stderr


def test_summarize_gives_the_same_url_whatever_folder_is_passed(tmp_path: Path) -> None:
    """The site's root, content/, content/zh, a section or the file itself: one URL for the post."""
    hugo_site(tmp_path, MULTILINGUAL)
    assert digest(tmp_path, "init").returncode == 0
    want = "https://sofastack.example.cn/blog/sofa-weekly/20220923/"
    for folder in (".", "content", "content/zh", "content/zh/blog", "content/zh/blog/sofa-weekly",
                   "content/zh/blog/sofa-weekly/20220923.md"):
        assert list(urls(tmp_path, folder).values()) == [want], folder


def test_init_writes_per_section_permalinks_and_other_sections_keep_their_path(tmp_path: Path) -> None:
    """[permalinks] blog = … names blog's pattern; a page of another section keeps Hugo's default path."""
    (tmp_path / "config.toml").write_text(
        'baseurl = "https://mesh.example.cn/"\n[Permalinks]\n    blog = "/blog/:filename/"\n', encoding="utf-8"
    )
    for rel in ("blog/cilium-intro/index.md", "activity/webinar-2.md"):
        page = tmp_path / "content" / rel
        page.parent.mkdir(parents=True)
        page.write_text("---\ntitle: Cilium 介绍\ndate: 2019-03-01\nimage: banner.jpg\n---\nx\n", encoding="utf-8")
    assert digest(tmp_path, "init").returncode == 0
    out = digest(tmp_path, "summarize", "content", "--json")
    rows = {row["path"]: row for row in json.loads(out.stdout)}
    assert rows["blog/cilium-intro/"]["url"] == "https://mesh.example.cn/blog/cilium-intro/"
    assert rows["blog/cilium-intro/"]["image"] == "https://mesh.example.cn/blog/cilium-intro/banner.jpg"
    assert rows["activity/webinar-2.md"]["url"] == "https://mesh.example.cn/activity/webinar-2/"
    assert rows["activity/webinar-2.md"]["image"] == "https://mesh.example.cn/banner.jpg"


def test_check_reports_a_config_without_base_url(tmp_path: Path) -> None:
    """A config.yaml with no site.base_url: `digest check` exits 1 and says how to set it."""
    write_config(tmp_path)
    config = tmp_path / "config.yaml"
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    del data["site"]["base_url"]
    config.write_text(yaml.safe_dump(data), encoding="utf-8")
    write_article(tmp_path, "first", MONDAY - timedelta(days=2))
    result = CliRunner().invoke(cli, ["check", "--config", str(config)], env={"DIGEST_UNSUBSCRIBE_SECRET": None})
    assert result.exit_code == 1, result.output
    assert "site.base_url is not set" in result.output and "--base-url" in result.output
    assert "1 articles read" in result.output  # the articles are still checked


def test_check_issue_with_example_com_links_fails_when_the_site_is_elsewhere(tmp_path: Path) -> None:
    """An issue built with the placeholder base URL fails `digest check ISSUE.html` once the config names the site."""
    write_config(tmp_path, site={"base_url": "https://example.com/"})
    write_article(tmp_path, "first", MONDAY - timedelta(days=2))
    config = str(tmp_path / "config.yaml")
    built = CliRunner().invoke(cli, ["build", "--since", "2025-06-30", "--until", "2025-07-07", "--config", config])
    assert built.exit_code == 0, built.output
    html = next(line for line in built.output.splitlines() if line.endswith(".html"))
    same = CliRunner().invoke(cli, ["check", html, "--config", config])
    assert same.exit_code == 0, same.output
    write_config(tmp_path, site={"base_url": "https://blog.real-site.net/"})
    moved = CliRunner().invoke(cli, ["check", html, "--config", config])
    assert moved.exit_code == 1, moved.output
    assert "point at example.com, a placeholder domain" in moved.output
