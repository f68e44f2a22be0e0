"""A site's own URLs (spec §2): page-bundle images, `cover` as a string, Hugo's sections and slugs; --explain."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sitegen import settings_for, write_article, write_config

from digest.config import settings_from_mapping
from digest.content.articles import read_article
from digest.content.permalink import article_url
from digest.pipeline import build as pipeline

SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY = datetime(2025, 7, 1, tzinfo=SHANGHAI)


def article(tmp_path: Path, rel: str, front: str, permalink: str | dict[str, str] = "/posts/{slug}/"):  # noqa: ANN201
    """The article at content/`rel` with the front matter lines `front`, read under news.example.com."""
    source = tmp_path / "content" / rel
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_text(f"---\ndate: 2025-08-27T08:00:00+08:00\n{front}---\nBody.\n", encoding="utf-8")
    settings = settings_from_mapping({"site": {"base_url": "https://news.example.com", "permalink": permalink}})
    art = read_article(source, tmp_path / "content", settings)
    assert art is not None
    return art


def test_a_relative_image_in_a_leaf_bundle_is_relative_to_its_page(tmp_path: Path) -> None:
    """posts/harbor-cranes/index.md with `image: cranes.jpg` gives …/posts/harbor-cranes/cranes.jpg."""
    art = article(tmp_path, "posts/harbor-cranes/index.md", "image: cranes.jpg\n")
    assert art.url == "https://news.example.com/posts/harbor-cranes/"
    assert art.image == "https://news.example.com/posts/harbor-cranes/cranes.jpg"


def test_a_bundle_resource_may_climb_but_not_leave_the_host(tmp_path: Path) -> None:
    """`../shared/a b.png` resolves against the page like a browser would, percent-encoded; `/x.png` is a site path."""
    up = article(tmp_path, "posts/one/index.md", "featured_image: ../../../shared/a b.png\n")
    assert up.image == "https://news.example.com/shared/a%20b.png"
    rooted = article(tmp_path, "posts/two/index.md", "image: /images/x.png\n")
    assert rooted.image == "https://news.example.com/images/x.png"


def test_a_relative_image_outside_a_bundle_joins_the_base_url(tmp_path: Path) -> None:
    """A plain file's relative image is a site path, as before."""
    art = article(tmp_path, "posts/plain.md", "image: images/plain.png\n")
    assert art.image == "https://news.example.com/images/plain.png"


def test_cover_as_a_string_is_the_image(tmp_path: Path) -> None:
    """`cover: images/survey.png` (a string) counts as much as `cover: {image: …}`."""
    art = article(tmp_path, "posts/2025-09-03-reader-survey.md", "cover: images/survey.png\n")
    assert art.image == "https://news.example.com/images/survey.png"
    mapped = article(tmp_path, "posts/mapped.md", "cover:\n  image: images/m.png\n")
    assert mapped.image == "https://news.example.com/images/m.png"


def test_per_section_permalinks_and_hugos_default_path(tmp_path: Path) -> None:
    """A mapping names a section's pattern (nested pages take their top section's); other sections keep their path."""
    patterns = {"blog": "/blog/:filename/"}
    nested = article(tmp_path, "blog/sofa-weekly/20220923.md", "title: W\n", patterns)
    assert nested.url == "https://news.example.com/blog/20220923/"  # Hugo: the top-level section's pattern
    other = article(tmp_path, "docs/guides/setup/index.md", "title: Setup\n", patterns)
    assert other.url == "https://news.example.com/docs/guides/setup/"
    slugged = article(tmp_path, "docs/guides/old-name.md", "title: T\nslug: new-name\n", patterns)
    assert slugged.url == "https://news.example.com/docs/guides/new-name/"


def test_hugo_sections_token_and_its_slices() -> None:
    """`:sections` is every folder above the page; `[1:]`, `[last]`, `[:last]` slice it as Go does."""
    def url(pattern: str) -> str:
        return article_url(pattern, base_url="https://x.example", slug="p", date=DAY, tz=SHANGHAI,
                           section="blog", filename="p", title="P", sections=["blog", "sofa-weekly", "2022"])

    assert url("/:sections/:slug/") == "https://x.example/blog/sofa-weekly/2022/p/"
    assert url("/:sections[1:]/:slug/") == "https://x.example/sofa-weekly/2022/p/"
    assert url("/:sections[last]/:slug/") == "https://x.example/2022/p/"
    assert url("/:sections[:last]/:slug/") == "https://x.example/blog/sofa-weekly/p/"
    assert url("/:sections[7:]/:slug/") == "https://x.example/p/"


def test_hugo_slug_falls_back_to_the_title_but_ours_to_the_file_name(tmp_path: Path) -> None:
    """Hugo's `:slug` without a front matter slug is the title; our `{slug}` is the file's name."""
    hugo = article(tmp_path, "posts/2025-08-27-cranes.md", "title: Cranes Arrive\n", "/:section/:slug/")
    assert hugo.url == "https://news.example.com/posts/cranes-arrive/"
    ours = article(tmp_path, "posts/2025-08-27-cranes.md", "title: Cranes Arrive\n", "/posts/{slug}/")
    assert ours.url == "https://news.example.com/posts/cranes/"


def test_explain_lists_every_markdown_file_with_its_reason(tmp_path: Path) -> None:
    """--explain names the files that are no article, a bundle's resources, a drafts folder and a bad file too."""
    write_config(tmp_path)
    write_article(tmp_path, "in", DAY + timedelta(days=1))
    posts = tmp_path / "content" / "posts"
    (posts / "readme.md").write_text("Just notes.\n", encoding="utf-8")
    (posts / "nodate.md").write_text("---\ntitle: x\n---\n", encoding="utf-8")
    (posts / "_drafts").mkdir()
    (posts / "_drafts" / "idea.md").write_text("---\ntitle: i\ndate: 2025-07-02\n---\n", encoding="utf-8")
    (posts / "bundle").mkdir()
    (posts / "bundle" / "index.md").write_text("---\ntitle: b\ndate: 2020-07-02\n---\n", encoding="utf-8")
    (posts / "bundle" / "notes.md").write_text("---\ntitle: n\ndate: 2025-07-02\n---\n", encoding="utf-8")
    settings = settings_for(tmp_path)
    for _ in ("cold", "warm"):
        result = pipeline.build_issue(settings, DAY, DAY + timedelta(days=7), explain=True)
        reasons = {d.path: d.reason for d in result.decisions}
        assert reasons["posts/readme.md"] == "not an article: no front matter"
        assert reasons["posts/_drafts/"].startswith("not published: a drafts folder")
        assert reasons["posts/bundle/notes.md"] == "not a page: a resource of the leaf bundle posts/bundle/ (Hugo)"
        assert reasons["posts/bundle/"].startswith("outside the range")
        assert reasons["posts/nodate.md"].startswith("skipped: no usable date")
        assert set(reasons) == {"posts/in.md", "posts/readme.md", "posts/nodate.md", "posts/_drafts/",
                                "posts/bundle/", "posts/bundle/notes.md"}
