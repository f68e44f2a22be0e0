"""Reading content files: which are articles (spec §1), their fields (spec §2), and bad input."""

from __future__ import annotations

import json
import os
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from digest.config import Settings, settings_from_mapping
from digest.content.articles import load_body, read_article
from digest.content.scan import scan
from digest.errors import ArticleError

DEV = Path(__file__).parents[1] / "fixtures" / "dev"
CONTENT = DEV / "content"
LABELS = json.loads((DEV / "labels.json").read_text(encoding="utf-8"))
ENTRIES = LABELS["articles"]
ARTICLES = [e for e in ENTRIES if "title" in e]
ERRORS = [e for e in ENTRIES if "error" in e]
SKIPS = [e for e in ENTRIES if e.get("skip")]


@pytest.fixture(scope="module")
def site() -> Settings:
    return settings_from_mapping(
        {"site": {"base_url": "https://news.example.com", "permalink": "/posts/{slug}/", "timezone": "Asia/Shanghai"}}
    )


def source_of(path: str) -> Path:
    return CONTENT / path / "index.md" if path.endswith("/") else CONTENT / path


def write(folder: Path, name: str, data: bytes | str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.write_bytes(data)
    return path


def read(path: Path, site: Settings) -> Any:
    return read_article(path, path.parent, site)


def reason_of(path: Path, site: Settings) -> str:
    with pytest.raises(ArticleError) as caught:
        read(path, site)
    reason = str(caught.value)
    assert "\n" not in reason and reason
    return reason


# --- The labelled corpus ---------------------------------------------------------------------


@pytest.mark.parametrize("label", ARTICLES, ids=[e["path"] for e in ARTICLES])
def test_labelled_article_fields(label: dict[str, Any], site: Settings) -> None:
    """Every labelled article reads with its title, instant, draft flag, topics, URL and image."""
    art = read_article(source_of(label["path"]), CONTENT, site)
    assert art is not None
    assert art.path == label["path"]
    assert art.title == label["title"]
    assert art.date == datetime.fromisoformat(label["date"])
    assert art.date.utcoffset() is not None
    assert art.draft == label["draft"]
    assert art.topics == label["topics"]
    assert art.url == label["url"]
    assert art.image == label["image"]
    assert art.body is None  # selection needs the front matter only


@pytest.mark.parametrize("label", ERRORS, ids=[e["path"] for e in ERRORS])
def test_labelled_broken_files_raise_with_the_labelled_reason(label: dict[str, Any], site: Settings) -> None:
    """A file that tried to be an article and failed raises ArticleError with a one-line reason."""
    with pytest.raises(ArticleError) as caught:
        read_article(source_of(label["path"]), CONTENT, site)
    assert str(caught.value).startswith(label["error"].rstrip(")"))


@pytest.mark.parametrize("label", SKIPS, ids=[e["path"] for e in SKIPS])
def test_labelled_non_articles_are_skipped_silently(label: dict[str, Any], site: Settings) -> None:
    """README without front matter, _index.md, _drafts/ and an empty file are not articles."""
    assert read_article(source_of(label["path"]), CONTENT, site) is None


def test_scan_of_the_labelled_corpus(site: Settings) -> None:
    """scan() finds exactly the labelled articles and reports exactly the labelled errors, sorted by path."""
    articles, skipped = scan(CONTENT, site)
    assert [a.path for a in articles] == sorted(e["path"] for e in ARTICLES)
    assert [s.path for s in skipped] == sorted(e["path"] for e in ERRORS)


def test_sample_post_expiry_and_extra_fields(site: Settings) -> None:
    """expiryDate is read as an instant; front matter is kept for the summarizer."""
    art = read_article(CONTENT / "posts/2025-06-21-summer-sale.md", CONTENT, site)
    assert art is not None and art.expiry == datetime(2025, 6, 25, tzinfo=timezone(timedelta(hours=8)))
    assert art.front_matter["title"] == art.title


def test_load_body_of_a_toml_article(site: Settings) -> None:
    """load_body returns the Markdown after the closing +++, without the front matter."""
    art = read_article(CONTENT / "posts/2025-06-05-marathon-heat.md", CONTENT, site)
    assert art is not None
    body = load_body(art)
    assert body.lstrip().startswith("> **TL;DR**") and "+++" not in body


def test_load_body_of_a_json_article(site: Settings) -> None:
    """load_body skips a JSON front matter object."""
    art = read_article(CONTENT / "posts/2025-06-11-heat-pumps.md", CONTENT, site)
    assert art is not None
    assert load_body(art).lstrip().startswith("Heat pump installers")


# --- Front matter formats and encodings ------------------------------------------------------


def test_bom_and_crlf_are_accepted(tmp_path: Path, site: Settings) -> None:
    """A UTF-8 BOM and Windows line endings read like any other file, and the body comes back with \\n."""
    path = write(
        tmp_path, "2025-01-02-win.md",
        b"\xef\xbb\xbf---\r\ntitle: Windows\r\ndate: 2025-01-02\r\n---\r\nBody\r\nline\r\n",
    )
    art = read(path, site)
    assert art.title == "Windows" and art.date.isoformat() == "2025-01-02T00:00:00+08:00"
    assert load_body(art) == "Body\nline\n"


def test_toml_datetime_without_offset_is_in_the_site_zone(tmp_path: Path, site: Settings) -> None:
    """A TOML local datetime is read in the configured time zone."""
    path = write(tmp_path, "a.md", '+++\ntitle = "T"\ndate = 2025-06-24T08:30:00\n+++\n')
    assert read(path, site).date.isoformat() == "2025-06-24T08:30:00+08:00"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-01-29 18:15:32 +0530", "2025-01-29T18:15:32+05:30"),
        ('"2013-05-06 02:12:52 +0200"', "2013-05-06T02:12:52+02:00"),
        ("2025-07-05T11:10:04+08:00", "2025-07-05T11:10:04+08:00"),
        ("2025-06-13", "2025-06-13T00:00:00+08:00"),
        ("2025-07-17 14:30:00", "2025-07-17T14:30:00+08:00"),
        ("2025-06-22T16:00:00Z", "2025-06-22T16:00:00+00:00"),
        ("2023-01-29 18:30:22 2023 -0800", "2023-01-29T18:30:22-08:00"),
        ('"Wed, 29 Jan 2025 18:15:32 +0530"', "2025-01-29T18:15:32+05:30"),
    ],
)
def test_date_formats_hugo_and_jekyll_write(tmp_path: Path, site: Settings, text: str, expected: str) -> None:
    """Dates as YAML timestamps, Jekyll strings with a space before the offset, bare dates and RFC 2822."""
    path = write(tmp_path, "a.md", f"---\ntitle: T\ndate: {text}\n---\n")
    assert read(path, site).date.isoformat() == expected


def test_jekyll_file_name_date_and_slug(tmp_path: Path, site: Settings) -> None:
    """No date field: the YYYY-MM-DD- file name gives midnight in the site zone, and the rest is the slug."""
    art = read(write(tmp_path, "2025-06-13-rate-decision.markdown", "---\ntitle: T\n---\n"), site)
    assert art.date.isoformat() == "2025-06-13T00:00:00+08:00" and art.slug == "rate-decision"


def test_publish_date_wins_over_date(tmp_path: Path, site: Settings) -> None:
    """publishDate comes before date, whatever the key's case."""
    art = read(write(tmp_path, "a.md", "---\ndate: 2025-01-01\nPublishDate: 2025-02-02\n---\n"), site)
    assert art.date.date() == date(2025, 2, 2)


@pytest.mark.parametrize(
    ("name", "data", "starts"),
    [
        (
            "yaml.md", '---\ntitle: "open\ndate: 2025-01-01\n---\n',
            "front matter does not parse (YAML: unclosed quoted string",
        ),
        ("yaml2.md", "---\ntitle: a: b\n---\n", "front matter does not parse (YAML: mapping values are not allowed"),
        ("toml.md", '+++\ntitle = "open\n+++\n', "front matter does not parse (TOML: "),
        ("json.md", '{\n"title": "x",\n}\nbody\n', "front matter does not parse (JSON: "),
        (
            "unclosed.md", "---\ntitle: x\ndate: 2025-01-01\n",
            "front matter does not parse (YAML: no a closing --- line",
        ),
        ("list.md", "---\n- a\n- b\n---\n", "front matter is not a mapping (YAML list)"),
        ("scalar.md", "---\njust words\n---\n", "front matter is not a mapping (YAML string)"),
        ("baddate.md", "---\ntitle: x\ndate: next tuesday\n---\n", 'no usable date: "next tuesday" does not parse'),
        ("nodate.md", "---\ntitle: x\n---\n", "no usable date"),
        ("feb30.md", '---\ntitle: x\ndate: "2025-02-30"\n---\n', 'no usable date: "2025-02-30" does not parse'),
        ("numdate.md", "---\ntitle: x\ndate: 2025\n---\n", "no usable date: 2025 does not parse"),
        ("expiry.md", "---\ndate: 2025-01-01\nexpiryDate: soon\n---\n", 'expirydate: "soon" does not parse'),
    ],
)
def test_malformed_front_matter_gives_a_one_line_reason(
    tmp_path: Path, site: Settings, name: str, data: str, starts: str
) -> None:
    """Each kind of broken front matter names the format and the problem on one line."""
    assert reason_of(write(tmp_path, name, data), site).startswith(starts)


def test_gbk_file_is_reported_as_gbk(tmp_path: Path, site: Settings) -> None:
    """A Chinese article saved as GBK is not UTF-8, and the reason says GBK."""
    data = "---\ntitle: 梅雨季节的城市排水\ndate: 2025-06-23\n---\n\n今年入梅以来降雨偏多。\n".encode("gbk")
    assert reason_of(write(tmp_path, "gbk.md", data), site) == "not UTF-8 (GBK-encoded)"


def test_latin1_file_is_reported_as_latin1(tmp_path: Path, site: Settings) -> None:
    """A French article saved as Latin-1 is not UTF-8, and the reason says Latin-1."""
    data = "---\ntitle: Café crème à Zürich\ndate: 2025-06-23\n---\n\nDéjà vu.\n".encode("latin-1")
    assert reason_of(write(tmp_path, "fr.md", data), site) == "not UTF-8 (Latin-1/Windows-1252-encoded)"


def test_binary_file_named_md(tmp_path: Path, site: Settings) -> None:
    """Random bytes with NULs are reported as binary, not parsed."""
    assert reason_of(write(tmp_path, "blob.md", bytes(range(256)) * 4), site) == "not UTF-8 (binary data)"


def test_utf16_file(tmp_path: Path, site: Settings) -> None:
    """A UTF-16 file (as some Windows editors save) is named as such."""
    data = "---\ntitle: x\n---\n".encode("utf-16")
    assert reason_of(write(tmp_path, "u16.md", data), site) == "not UTF-8 (UTF-16 text)"


@pytest.mark.parametrize("data", [b"", b"   \n\n", b"# Just a heading\n\nNo front matter.\n", b"---- \nnot a rule\n"])
def test_files_without_front_matter_are_not_articles(tmp_path: Path, site: Settings, data: bytes) -> None:
    """Empty files, blank files and plain Markdown are skipped silently."""
    assert read(write(tmp_path, "plain.md", data), site) is None


def test_liquid_at_the_top_is_not_json_front_matter(tmp_path: Path, site: Settings) -> None:
    """A file that starts with `{% raw %}` or `{{< shortcode >}}` has no front matter; it is not broken JSON."""
    assert read(write(tmp_path, "liquid.md", "{% raw %}\ntext\n"), site) is None
    assert read(write(tmp_path, "short.md", "{{< note >}}\ntext\n"), site) is None


def test_empty_front_matter_is_an_article_that_needs_a_date(tmp_path: Path, site: Settings) -> None:
    """`---` then `---` is front matter with no fields: the file name's date and the stem as title are used."""
    art = read(write(tmp_path, "2025-03-04-hello.md", "---\n---\nBody\n"), site)
    assert art.title == "2025-03-04-hello" and art.slug == "hello"


# --- Odd values in otherwise good front matter -----------------------------------------------


def test_title_that_is_a_number_or_a_list(tmp_path: Path, site: Settings) -> None:
    """A numeric title becomes its text; a list of words is joined; a mapping falls back to the stem."""
    assert read(write(tmp_path, "a.md", "---\ntitle: 2025\ndate: 2025-01-01\n---\n"), site).title == "2025"
    assert read(write(tmp_path, "b.md", "---\ntitle: [Part, 2]\ndate: 2025-01-01\n---\n"), site).title == "Part, 2"
    assert read(write(tmp_path, "c.md", "---\ntitle: {a: 1}\ndate: 2025-01-01\n---\n"), site).title == "c"


def test_title_from_first_heading_then_stem(tmp_path: Path, site: Settings) -> None:
    """With no title, the first `# ` heading outside code fences names the article; else the file stem."""
    text = "---\ndate: 2025-01-01\n---\n```\n# not this\n```\n## Sub\n# The Heading #\n"
    assert read(write(tmp_path, "a.md", text), site).title == "The Heading"
    assert read(write(tmp_path, "stem-name.md", "---\ndate: 2025-01-01\n---\ntext\n"), site).title == "stem-name"


def test_tags_as_a_comma_separated_string_and_odd_items(tmp_path: Path, site: Settings) -> None:
    """A tags string is split on commas; numbers and booleans become text; nested lists are ignored; no duplicates."""
    text = "---\ndate: 2025-01-01\ncategories: Tech\ntags: [2025, true, [x], tech, AI]\ntopics: 'a, b ,a'\n---\n"
    assert read(write(tmp_path, "a.md", text), site).topics == ["a", "b", "Tech", "2025", "true", "AI"]


def test_url_field_absolute_relative_and_hostile(tmp_path: Path, site: Settings) -> None:
    """An http(s) url is kept; anything else is a path of the site, so it can never be a javascript: link."""
    base = "---\ndate: 2025-01-01\nurl: {}\n---\n"
    assert read(write(tmp_path, "a.md", base.format("https://other.example/x")), site).url == "https://other.example/x"
    assert read(write(tmp_path, "b.md", base.format("/briefs/x/")), site).url == "https://news.example.com/briefs/x/"
    assert read(write(tmp_path, "c.md", base.format("'//evil.example/'")), site).url == "https://news.example.com/evil.example/"
    assert read(write(tmp_path, "d.md", base.format("[1, 2]")), site).url == "https://news.example.com/posts/d/"


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("image: /images/default (1).png", "https://news.example.com/images/default%20(1).png"),
        ("image: https://cdn.example.org/a b.jpg", "https://cdn.example.org/a%20b.jpg"),
        ("image: //cdn.example.org/a.jpg", "https://cdn.example.org/a.jpg"),
        ("image: javascript:alert(1)", None),
        ("image: 'data:image/png;base64,AAAA'", None),
        ("featured_image: javascript:x\nimage: /ok.png", "https://news.example.com/ok.png"),
        ("cover:\n  image: /c.png", "https://news.example.com/c.png"),
        ("images: [/first.png, /second.png]", "https://news.example.com/first.png"),
        ("image: {path: /p.png}", "https://news.example.com/p.png"),
        ("image: 42", None),
    ],
)
def test_image_sources_and_safety(tmp_path: Path, site: Settings, field: str, expected: str | None) -> None:
    """Images come from several fields; relative ones join base_url encoded; other schemes are dropped."""
    assert read(write(tmp_path, "a.md", f"---\ndate: 2025-01-01\n{field}\n---\n"), site).image == expected


def test_draft_and_published_flags(tmp_path: Path, site: Settings) -> None:
    """`draft: true` and Jekyll's `published: false` mark a draft; a draft string "yes" counts too."""
    assert read(write(tmp_path, "a.md", "---\ndate: 2025-01-01\ndraft: true\n---\n"), site).draft
    assert read(write(tmp_path, "b.md", "---\ndate: 2025-01-01\npublished: false\n---\n"), site).draft
    assert read(write(tmp_path, "c.md", "---\ndate: 2025-01-01\ndraft: 'yes'\n---\n"), site).draft
    assert not read(write(tmp_path, "d.md", "---\ndate: 2025-01-01\ndraft: maybe\n---\n"), site).draft


def test_slug_field_wins_then_stem_then_bundle_folder(tmp_path: Path, site: Settings) -> None:
    """The slug is `slug`, else the stem without a date prefix, else a bundle's folder name."""
    write(tmp_path, "posts/2025-01-01-x.md", "---\nslug: custom\n---\n")
    write(tmp_path, "posts/2025-01-02-from-name.md", "---\ntitle: T\n---\n")
    write(tmp_path, "posts/my-bundle/index.md", "---\ndate: 2025-01-03\n---\n")
    write(tmp_path, "posts/my-bundle/notes.md", "---\ndate: 2025-01-03\n---\n")  # a bundle resource
    articles, skipped = scan(tmp_path, site)
    assert [(a.path, a.slug) for a in articles] == [
        ("posts/2025-01-01-x.md", "custom"),
        ("posts/2025-01-02-from-name.md", "from-name"),
        ("posts/my-bundle/", "my-bundle"),
    ]
    assert articles[2].url == "https://news.example.com/posts/my-bundle/" and not skipped


def test_jekyll_posts_use_jekyll_permalink_rules(tmp_path: Path) -> None:
    """A post in _posts gets Jekyll's :title and a day computed in the site's zone."""
    site = settings_from_mapping({"site": {"base_url": "https://jekyllrb.com", "timezone": "America/Los_Angeles",
                                           "permalink": "/news/:year/:month/:day/:title/"}})
    write(tmp_path, "_posts/2018-02-25-jekyll-3-7-3-released.markdown",
          '---\ntitle: "Jekyll 3.7.3 Released"\ndate: 2018-02-25 13:02:08 +0530\ncategory: release\n---\n')
    (art,), _ = scan(tmp_path, site)
    assert art.url == "https://jekyllrb.com/news/2018/02/24/jekyll-3-7-3-released/"
    assert art.date.isoformat() == "2018-02-25T13:02:08+05:30" and art.topics == ["release"]


# --- scan() over a hostile folder ------------------------------------------------------------


def test_scan_survives_every_kind_of_bad_file(tmp_path: Path, site: Settings) -> None:
    """Broken, binary and unreadable files are each reported; the good article is still read."""
    write(tmp_path, "good.md", "---\ntitle: Good\ndate: 2025-01-01\n---\n")
    write(tmp_path, "broken.md", '---\ntitle: "x\n---\n')
    write(tmp_path, "blob.md", b"\x89PNG\r\n\x1a\n\x00\x00")
    (tmp_path / "folder.md").mkdir()  # a folder with an article's name is walked, not read
    write(tmp_path, "folder.md/inner.md", "---\ntitle: Inner\ndate: 2025-01-02\n---\n")
    (tmp_path / "dangling.md").symlink_to(tmp_path / "missing.md")
    os.mkfifo(tmp_path / "pipe.md")  # reading a pipe would block forever
    (tmp_path / "loop").symlink_to(tmp_path)  # a symlink loop
    write(tmp_path, ".hidden.md", "---\ndate: nope\n---\n")
    articles, skipped = scan(tmp_path, site)
    assert [a.path for a in articles] == ["folder.md/inner.md", "good.md"]
    reasons = {s.path: s.reason for s in skipped}
    assert set(reasons) == {"broken.md", "blob.md", "dangling.md", "pipe.md"}
    assert reasons["dangling.md"] == "cannot read: a symbolic link to nothing"
    assert reasons["pipe.md"] == "cannot read: not a regular file"
    assert all("\n" not in r for r in reasons.values())


def test_symlinked_folder_is_read_once(tmp_path: Path, site: Settings) -> None:
    """A folder reached twice through a symlink is read only the first time."""
    write(tmp_path, "a/x.md", "---\ndate: 2025-01-01\n---\n")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    articles, _ = scan(tmp_path, site)
    assert [a.path for a in articles] == ["a/x.md"]


UNREADABLE_SCAN = """
import json, sys
from pathlib import Path
from digest.config import settings_from_mapping
from digest.content.scan import scan
articles, skipped = scan(Path(sys.argv[1]), settings_from_mapping({"site": {"timezone": "Asia/Shanghai"}}))
print(json.dumps([[a.path for a in articles], [[s.path, s.reason] for s in skipped]]))
"""


def test_unreadable_file_is_reported() -> None:
    """A file without read permission is reported, and the scan goes on.

    Root reads a chmod 000 file anyway, so the scan runs as `nobody` (see staging.py).
    """
    import sys

    from staging import (
        as_unprivileged,
        is_root,
        run,
        shared_folder,
        unprivileged_problem,
    )

    problem = unprivileged_problem() if is_root() else None
    if problem:
        pytest.skip(problem)
    with shared_folder() as folder:
        write(folder, "ok.md", "---\ndate: 2025-01-01\n---\n")
        write(folder, "secret.md", "---\ndate: 2025-01-01\n---\n").chmod(0)
        result = run(as_unprivileged([sys.executable, "-c", UNREADABLE_SCAN, str(folder)]), folder)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [["ok.md"], [["secret.md", "cannot read: Permission denied"]]]


def test_read_article_on_a_folder_raises_article_error(tmp_path: Path, site: Settings) -> None:
    """Asking for a folder named like an article gives a one-line reason, not an OSError."""
    (tmp_path / "x.md").mkdir()
    assert reason_of(tmp_path / "x.md", site) == "cannot read: it is a folder"


def test_ten_megabyte_article_reads_front_matter_only(tmp_path: Path, site: Settings) -> None:
    """A 10 MB body is not read or parsed by read_article; load_body still gets all of it."""
    body = ("Lorem ipsum **12%** dolor sit amet.\n" * 300_000)[: 10 * 1024 * 1024]
    path = write(tmp_path, "big.md", "---\ntitle: Big\ndate: 2025-01-01\n---\n" + body)
    start = time.perf_counter()
    art = read(path, site)
    assert time.perf_counter() - start < 0.05
    assert art.title == "Big" and len(load_body(art)) == len(body)


def test_long_front_matter_beyond_the_first_block(tmp_path: Path, site: Settings) -> None:
    """Front matter longer than the first read block is read to its end."""
    filler = "".join(f"k{i}: {'x' * 60}\n" for i in range(2000))
    art = read(write(tmp_path, "long.md", f"---\n{filler}title: Late\ndate: 2025-01-01\n---\nBody\n"), site)
    assert art.title == "Late" and load_body(art) == "Body\n"


# --- Properties ------------------------------------------------------------------------------

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=30),
    st.dates(), st.datetimes(timezones=st.none() | st.just(timezone.utc)),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
KEYS = ["title", "date", "publishDate", "draft", "published", "expiryDate", "lastmod", "tags", "categories",
        "topics", "main_topics", "url", "image", "images", "cover", "featured_image", "slug", "permalink"]
front_matters = st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), values, max_size=8)


@hyp_settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    fm=front_matters, body=st.text(max_size=200),
    name=st.sampled_from(["a.md", "2025-01-02-a.md", "_posts/2025-01-02-b.md"]),
)
def test_any_front_matter_raises_nothing_but_article_error(
    tmp_path: Path, site: Settings, fm: dict, body: str, name: str
) -> None:
    """Arbitrary values of any type in any field either read or give ArticleError with one line."""
    text = "---\n" + yaml.safe_dump(fm, allow_unicode=True) + "---\n" + body
    path = write(tmp_path, name, text)
    try:
        art = read_article(path, tmp_path, site)
    except ArticleError as exc:
        assert "\n" not in str(exc)
        return
    if art is not None:
        assert art.date.utcoffset() is not None and isinstance(art.title, str) and art.title
        assert art.url.startswith("https://news.example.com/") or art.url.startswith(("http://", "https://"))
        assert all(isinstance(t, str) and t for t in art.topics)
        assert art.image is None or art.image.startswith(("http://", "https://"))


@hyp_settings(max_examples=300, deadline=None)
@given(
    raw=st.binary(max_size=300) | st.text(max_size=300).map(lambda t: ("---\n" + t).encode("utf-8", "surrogatepass"))
)
def test_any_bytes_raise_nothing_but_article_error(raw: bytes) -> None:
    """Arbitrary bytes (and arbitrary text after `---`) never raise anything but ArticleError."""
    import tempfile

    site = settings_from_mapping({"site": {"timezone": "Asia/Shanghai"}})
    with tempfile.TemporaryDirectory() as folder:
        path = write(Path(folder), "x.md", raw)
        try:
            read_article(path, Path(folder), site)
        except ArticleError as exc:
            assert "\n" not in str(exc)


def test_front_matter_is_parsed_by_libyaml_when_pyyaml_has_it() -> None:
    """yaml_fast is gone: PyYAML's C loader reads the front matter (10x the pure-Python one)."""
    from digest.content import frontmatter

    assert frontmatter._Loader is getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    assert hasattr(yaml, "CSafeLoader"), "PyYAML without libyaml: a cold scan is ~10x slower"


date_texts = st.builds(
    lambda y, mo, d, sep, h, mi, s, off: (
        f"{y}-{mo}-{d}" + (f"{sep}{h}:{mi}" + (f":{s}{off}" if s else "") if sep else "")
    ),
    st.sampled_from(["2025", "0001", "9999", "1999", "２０２５"]),
    st.sampled_from(["07", "7", "13", "00", "02"]),
    st.sampled_from(["05", "5", "29", "30", "31", "00"]),
    st.sampled_from(["", "T", " ", "t", "x", "  "]),
    st.sampled_from(["00", "23", "24", "9", "11"]),
    st.sampled_from(["10", "59", "60"]),
    st.sampled_from(["", "04", "60", "04.5"]),
    st.sampled_from(["", "Z", "z", "+08:00", "-05:30", "+0800", "+24:00", "-00:00", " +08:00", "+08:60", "UTC"]),
)


@hyp_settings(max_examples=400, deadline=None)
@given(text=date_texts)
def test_fromisoformat_first_agrees_with_the_date_rules(text: str) -> None:
    """parse_date tries datetime.fromisoformat first (3x faster): on every shape it gives the rules' answer."""
    from digest.content import fields

    tz = ZoneInfo("Asia/Shanghai")
    original = fields._iso_shape
    fields._iso_shape = lambda _text: False  # the rules alone
    try:
        try:
            expected: object = fields.parse_date(text, tz)
        except ValueError as exc:
            expected = str(exc)
    finally:
        fields._iso_shape = original
    try:
        got: object = fields.parse_date(text, tz)
    except ValueError as exc:
        got = str(exc)
    assert got == expected
    if isinstance(got, datetime) and isinstance(expected, datetime):
        assert got.isoformat() == expected.isoformat() and got.tzinfo == expected.tzinfo


# --- symbolic links out of the content folder (issue 10) ------------------------------------------


def _site_with_links(tmp_path: Path) -> tuple[Path, Path]:
    """content/ beside private/: links to a private file and folder, and links that stay inside."""
    content, private = tmp_path / "content", tmp_path / "private"
    write(private, "diary.md", "---\ntitle: PRIVATE-DIARY\ndate: 2025-01-03\n---\nPRIVATE-TEXT\n")
    write(private, "notes/n.md", "---\ntitle: PRIVATE-NOTE\ndate: 2025-01-04\n---\n")
    write(content, "posts/a.md", "---\ntitle: A\ndate: 2025-01-01\n---\n")
    write(content, "shared/s.md", "---\ntitle: S\ndate: 2025-01-02\n---\n")
    (content / "posts" / "leak.md").symlink_to(private / "diary.md")
    (content / "posts" / "notes").symlink_to(private / "notes")
    (content / "posts" / "alias.md").symlink_to(Path("a.md"))  # relative, stays inside
    (content / "posts" / "shared").symlink_to(Path("..") / "shared")  # a folder link that stays inside
    write(tmp_path / "content-old", "old.md", "---\ntitle: PRIVATE-OLD\ndate: 2025-01-05\n---\n")
    (content / "posts" / "old.md").symlink_to(tmp_path / "content-old" / "old.md")  # a sibling sharing the prefix
    return content, private


def test_link_to_a_file_or_folder_outside_the_content_folder_is_skipped_naming_its_target(
    tmp_path: Path, site: Settings
) -> None:
    """A link out of the content folder is not read; the warning names the link and where it points."""
    content, private = _site_with_links(tmp_path)
    articles, skipped = scan(content, site)
    assert [a.path for a in articles] == ["posts/a.md", "posts/alias.md", "posts/shared/s.md"]
    assert all("PRIVATE" not in a.title for a in articles)
    reasons = {s.path: s.reason for s in skipped}
    assert set(reasons) == {"posts/leak.md", "posts/notes/", "posts/old.md"}
    assert str((private / "diary.md").resolve()) in reasons["posts/leak.md"]
    assert str((private / "notes").resolve()) in reasons["posts/notes/"]
    assert "outside the content folder" in reasons["posts/leak.md"]
    assert "content.follow_outside_links" in reasons["posts/leak.md"]


def test_follow_outside_links_reads_them(tmp_path: Path) -> None:
    """With content.follow_outside_links: true, links out of the folder are read like any file."""
    content, _ = _site_with_links(tmp_path)
    follow = settings_from_mapping(
        {"site": {"timezone": "Asia/Shanghai"}, "content": {"dir": str(content), "follow_outside_links": True}}
    )
    assert follow.content_dir == content and follow.follow_outside_links
    articles, skipped = scan(content, follow)
    assert {a.title for a in articles} >= {"PRIVATE-DIARY", "PRIVATE-NOTE", "PRIVATE-OLD"} and skipped == []


def test_content_folder_that_is_itself_a_link_is_read(tmp_path: Path, site: Settings) -> None:
    """Only links out of the folder's real location count: a content folder reached by a link is fine."""
    write(tmp_path / "real", "a.md", "---\ntitle: A\ndate: 2025-01-01\n---\n")
    (tmp_path / "content").symlink_to(tmp_path / "real")
    (tmp_path / "real" / "b.md").symlink_to(tmp_path / "content" / "a.md")  # inside, by way of the link
    articles, skipped = scan(tmp_path / "content", site)
    assert [a.path for a in articles] == ["a.md", "b.md"] and skipped == []


def test_link_loops_in_and_out_of_the_folder_do_not_hang(tmp_path: Path) -> None:
    """File and folder link loops, inside and through the outside, end the scan in both modes."""
    import signal

    content = tmp_path / "content"
    write(content, "a.md", "---\ntitle: A\ndate: 2025-01-01\n---\n")
    (content / "x.md").symlink_to(content / "y.md")
    (content / "y.md").symlink_to(content / "x.md")
    (content / "up").symlink_to(content)
    (tmp_path / "out").symlink_to(content)
    (content / "round").symlink_to(tmp_path / "out")  # out of the folder's path, back into it
    (content / "far").symlink_to(tmp_path)  # the parent, which holds the content folder
    class Hung(Exception):  # not an OSError, which the walker reports and goes on from
        pass

    def hung(signum: int, frame: object) -> None:
        raise Hung("the scan did not end: a symlink loop was followed")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(20)  # a hang fails the test instead of the run
    try:
        for follow in (False, True):
            settings = settings_from_mapping({"content": {"dir": str(content), "follow_outside_links": follow}})
            articles, skipped = scan(content, settings)
            assert "a.md" in [a.path for a in articles]
            reasons = {s.path: s.reason for s in skipped}
            assert "Too many levels of symbolic links" in reasons["x.md"]
            assert ("far/" in reasons) is not follow
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
