"""Permalinks: our `{slug}` style and Hugo's or Jekyll's placeholders, joined to the site's base URL."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from digest.content.permalink import article_url, hugo_urlize, jekyll_slugify, join_url

SHANGHAI = ZoneInfo("Asia/Shanghai")
LA = ZoneInfo("America/Los_Angeles")
IST = timezone(timedelta(hours=5, minutes=30))


def url(pattern: str, **overrides: object) -> str:
    args: dict[str, object] = dict(
        base_url="https://news.example.com",
        slug="ai-capital",
        date=datetime(2025, 7, 5, 11, 10, 4, tzinfo=SHANGHAI),
        tz=SHANGHAI,
        section="posts",
        filename="2025-07-05-ai-capital",
        title="AI Capital: the Rush",
    )
    args.update(overrides)
    return article_url(pattern, **args)  # type: ignore[arg-type]


def test_brace_slug_pattern_from_our_config() -> None:
    """`/posts/{slug}/` puts the slug in the path under the base URL."""
    assert url("/posts/{slug}/") == "https://news.example.com/posts/ai-capital/"


def test_base_url_with_trailing_slash_and_pattern_without_leading_slash() -> None:
    """Joining never doubles or drops the slash between base URL and path."""
    assert url("posts/{slug}/", base_url="https://news.example.com/") == "https://news.example.com/posts/ai-capital/"


def test_base_url_with_a_sub_path_keeps_it() -> None:
    """A site served under /blog/ gets /blog/ in every permalink, as Hugo and Jekyll do."""
    assert url("/:slug/", base_url="https://example.org/blog/") == "https://example.org/blog/ai-capital/"


def test_hugo_date_placeholders_use_the_dates_own_offset() -> None:
    """Hugo reads :year/:month/:day from the date as written, not converted to the site zone."""
    late = datetime(2025, 6, 30, 23, 30, tzinfo=timezone(timedelta(hours=-4)))
    assert url("/:year/:month/:day/:slug/", date=late) == "https://news.example.com/2025/06/30/ai-capital/"


def test_hugo_title_is_the_urlized_title() -> None:
    """Hugo's :title lowercases the title and turns spaces into hyphens, dropping punctuation."""
    assert url("/:section/:title/") == "https://news.example.com/posts/ai-capital-the-rush/"


def test_hugo_filename_and_monthname_placeholders() -> None:
    """:filename is the file's base name; :monthname the English month name."""
    assert url("/:monthname/:filename/") == "https://news.example.com/July/2025-07-05-ai-capital/"


def test_jekyll_day_is_computed_in_the_site_time_zone() -> None:
    """A post at 18:15 +0530 is 04:45 the same day in Los Angeles: day 29."""
    moment = datetime(2025, 1, 29, 18, 15, 32, tzinfo=IST)
    got = url("/news/:year/:month/:day/:title/", date=moment, tz=LA, slug="jekyll-4-4-1-released", generator="jekyll")
    assert got == "https://news.example.com/news/2025/01/29/jekyll-4-4-1-released/"


def test_jekyll_early_morning_in_india_is_the_previous_day_in_los_angeles() -> None:
    """13:02 +0530 on Feb 25 is 23:32 on Feb 24 in Los Angeles, so the URL says 24."""
    moment = datetime(2018, 2, 25, 13, 2, 8, tzinfo=IST)
    got = url("/news/:year/:month/:day/:title/", date=moment, tz=LA, slug="jekyll-3-7-3-released", generator="jekyll")
    assert got == "https://news.example.com/news/2018/02/24/jekyll-3-7-3-released/"


def test_jekyll_title_keeps_case_and_dots_slug_lowercases() -> None:
    """Jekyll's :title is the slug in "pretty" mode with case kept; :slug is lowercased, dots become hyphens."""
    got = url("/:title/:slug/", slug="Sass-Converter-3.0", generator="jekyll")
    assert got == "https://news.example.com/Sass-Converter-3.0/sass-converter-3-0/"


def test_jekyll_short_placeholders_and_categories() -> None:
    """:i_month, :i_day, :short_year and :categories (lowercased, deduplicated, joined by /)."""
    moment = datetime(2025, 3, 7, 12, tzinfo=LA)
    got = url("/:categories/:short_year/:i_month/:i_day/:title.html", date=moment, tz=LA, slug="x",
              generator="jekyll", categories=["Release", "news", "release"])
    assert got == "https://news.example.com/release/news/25/3/7/x.html"


def test_empty_categories_leave_no_double_slash() -> None:
    """A post without categories gets `/2025/...`, not `//2025/...`."""
    got = url("/:categories/:year/:title/", slug="x", generator="jekyll")
    assert got == "https://news.example.com/2025/x/"


def test_non_ascii_slug_is_percent_encoded_as_utf8() -> None:
    """A Chinese slug is kept by slugification and percent-encoded, as Hugo's .Permalink is."""
    assert url("/posts/{slug}/", slug="智力资本") == (
        "https://news.example.com/posts/%E6%99%BA%E5%8A%9B%E8%B5%84%E6%9C%AC/"
    )


def test_unknown_placeholder_is_left_as_written() -> None:
    """A name we do not know stays in the path rather than vanishing silently."""
    assert url("/:nonsense/{slug}/") == "https://news.example.com/:nonsense/ai-capital/"


def test_query_and_fragment_characters_in_a_slug_are_encoded() -> None:
    """A `#` in a value stays part of the path (encoded), never a fragment; Hugo drops the `?`."""
    assert url("/{slug}/", slug="what?#now") == "https://news.example.com/what%23now/"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("Hello  World!", "hello-world"), ("  C# & Go ", "c#-go"), ("中文 标题", "中文-标题"), ("a.b_c", "a.b_c")],
)
def test_hugo_urlize(text: str, expected: str) -> None:
    """URLize keeps letters, digits and a few marks, collapses spaces to one hyphen and lowercases."""
    assert hugo_urlize(text) == expected


def test_jekyll_slugify_default_and_pretty() -> None:
    """Default mode replaces every non-alphanumeric run with a hyphen; pretty keeps `.` and friends."""
    assert jekyll_slugify("Jekyll 1.0.0 Released!") == "jekyll-1-0-0-released"
    assert jekyll_slugify("Jekyll 1.0.0 Released!", pretty=True, cased=True) == "Jekyll-1.0.0-Released!"


def test_join_url_never_produces_a_second_scheme() -> None:
    """`javascript:x` and `//evil.example` become paths of the site."""
    assert join_url("https://a.example", "javascript:alert(1)") == "https://a.example/javascript:alert(1)"
    assert join_url("https://a.example", "//evil.example/x") == "https://a.example/evil.example/x"


def test_join_url_encodes_spaces_but_not_existing_escapes() -> None:
    """Spaces become %20; an existing %20 is not encoded twice; a stray % is."""
    assert join_url("https://a.example", "/a b%20c%zz") == "https://a.example/a%20b%20c%25zz"
