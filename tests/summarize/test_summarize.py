"""TL;DR (spec §4) and key figures (spec §5) of one article."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import frontmatter
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from digest.config import SummarySettings, load_settings
from digest.content.scan import scan
from digest.models import KeyFigure
from digest.pipeline.build import neighbour_boilerplate
from digest.summarize.boilerplate import NO_BOILERPLATE
from digest.summarize.plaintext import parse, strip_templates, text_blocks
from digest.summarize.summary import _is_title, _title_key, body_figures, front_matter_figures, summarize, tldr_text
from digest.text import cut

FIXTURES = Path(__file__).parents[1] / "fixtures" / "dev"
SAMPLE = FIXTURES / "content" / "posts" / "2025-07-05-ai-capital.md"
DEFAULT = SummarySettings()


def tldr(body: str, fm: dict[str, Any] | None = None, **kw: Any) -> str:
    return summarize(body, fm or {}, SummarySettings(**kw))[0]


def values(body: str, fm: dict[str, Any] | None = None) -> list[str]:
    return [k.value for k in summarize(body, fm or {}, DEFAULT)[1]]


def read_article(path: Path) -> tuple[dict[str, Any], str]:
    """Front matter (YAML, TOML or JSON) and body of a fixture article."""
    raw = path.read_text(encoding="utf-8-sig").replace("\r\n", "\n")
    if raw.startswith("+++"):
        _, head, body = raw.split("+++", 2)
        return tomllib.loads(head), body
    post = frontmatter.loads(raw)
    return dict(post.metadata), post.content


# --- TL;DR ------------------------------------------------------------------------------------


def test_front_matter_tldr_wins() -> None:
    """Front matter `tldr` comes before a TL;DR in the body and the summary."""
    body = "TL;DR: from the body.\n\nFirst paragraph."
    assert tldr(body, {"tldr": "From front matter.", "summary": "Summary."}) == "From front matter."


def test_sample_post_tldr_is_the_blockquote_after_a_bare_tldr_line() -> None:
    """The sample post: `TL;DR：` alone, then a blockquote that is the TL;DR."""
    fm, body = read_article(SAMPLE)
    assert summarize(body, fm, DEFAULT)[0] == (
        "美国AI初创公司正经历一场前所未有的资本狂欢，亿级融资已成常态。在基础大模型烧钱竞赛之余，"
        "资金正迅速涌入AI基础设施和具备明确商业落地场景的垂直应用，这标志着人工智能投资逻辑从"
        "“技术领先”向“价值变现”的根本性转变。"
    )


@pytest.mark.parametrize(
    "body",
    [
        "**TL;DR:** Rates stay put.\n\nBody.",
        "**TL;DR**: Rates stay put.\n\nBody.",
        "TL;DR: Rates stay put.\n\nBody.",
        "tldr：Rates stay put.\n\nBody.",
        "TL/DR Rates stay put.\n\nBody.",
        "> **TL;DR**: Rates stay put.\n\nBody.",
        "**TL;DR**\n\nRates stay put.\n\nBody.",
        "TL;DR:\n> Rates stay\n> put.\n\nBody.",
        "Intro paragraph.\n\n## Notes\n\nTLDR: Rates stay put.",
    ],
)
def test_tldr_paragraph_in_the_body(body: str) -> None:
    """A paragraph or blockquote starting TL;DR gives its rest, or the block that follows."""
    assert tldr(body) == "Rates stay put."


def test_word_starting_with_tldr_is_not_a_tldr() -> None:
    """`TLDRs are…` is an ordinary first paragraph, not a TL;DR marker."""
    assert tldr("TLDRs are everywhere.\n\nBody.", {"summary": "S."}) == "S."


def test_summary_then_description() -> None:
    """Front matter `summary` comes before `description`; Markdown in them is removed."""
    assert tldr("Body.", {"summary": "A **bold** [summary](/x).", "description": "D."}) == "A bold summary."
    assert tldr("Body.", {"description": "The description."}) == "The description."


def test_text_before_more_divider() -> None:
    """With no TL;DR or summary, the paragraphs before `<!--more-->` are the TL;DR."""
    body = "# Heading\n\nFirst one.\n\nSecond one.\n\n<!--more-->\n\nAfter the divider."
    assert tldr(body) == "First one. Second one."
    assert tldr("Start of it <!--more--> and the rest.") == "Start of it"


def test_first_paragraph_skips_headings_images_html_code_and_shortcodes() -> None:
    """The first paragraph with text, after headings, images, HTML, code and shortcodes."""
    body = (
        "## Heading\n\n![a picture](/x.png)\n\n<div>\nHTML block\n</div>\n\n```\ncode\n```\n\n"
        '{{< figure src="/y.png" caption="Caption" >}}\n\n{{% note %}}\nA note.\n{{% /note %}}\n\n'
        "The *real* [first](https://e.com) paragraph with `code`[^1].\n\n[^1]: A footnote."
    )
    assert tldr(body) == "The real first paragraph with code."


def test_jekyll_link_with_liquid_target_keeps_its_text() -> None:
    """A link whose target was Liquid keeps its text; tags and outputs vanish."""
    body = (
        "Fixes [#1339]({{ site.repository }}/issues/1339) and [the docs][d] for "
        "{{ site.name }}{% if x %} today{% endif %}.\n\n[d]: {% link docs.md %}\n"
    )
    assert tldr(body) == "Fixes #1339 and the docs for today."


def test_no_template_delimiters_survive() -> None:
    """Escaped Hugo shortcodes and `{{`/`}}` split over code spans leave no delimiters."""
    body = "Write {{</* figure src=x */>}} or {{%/* note */%}} delimited by `{{`&nbsp;and&nbsp;`}}`."
    got = tldr(body)
    assert not any(d in got for d in ("{{", "}}", "{%", "%}", "`")), got


def test_alert_marker_is_not_text() -> None:
    """A GitHub-style alert marker `> [!NOTE]` is not part of the text."""
    assert tldr("> [!NOTE]\n> Modules are Go modules.\n") == "Modules are Go modules."


def test_code_shortcodes_drop_their_content() -> None:
    """Paired code shortcodes and Liquid highlight blocks are removed with what they hold."""
    body = (
        "{{< highlight go >}}\nfmt.Println(1)\n{{< /highlight >}}\n\n"
        "{% highlight ruby %}\nputs 1\n{% endhighlight %}\n\nText."
    )
    assert tldr(body) == "Text."


def test_long_tldr_is_cut_at_the_last_sentence_end_that_fits() -> None:
    """A TL;DR over tldr_max_chars ends at its last whole sentence, then `…`."""
    text = "One sentence here. " * 20
    got = tldr(text, tldr_max_chars=60)
    assert got == "One sentence here. One sentence here. One sentence here.…"


def test_cjk_characters_count_one_each() -> None:
    """Each CJK character counts one toward the limit; the cut falls after 。"""
    text = "这是一句话。" * 60
    got = tldr(text)
    assert got == "这是一句话。" * 46 + "…"
    assert len(got) - 1 <= 280


def test_cut_falls_back_to_space_then_limit() -> None:
    """With no sentence end, the cut is at the last space, else at the limit."""
    assert cut("word " * 10, 22, at="sentence") == "word word word word…"
    assert cut("a" * 30, 20, at="sentence") == "a" * 20 + "…"
    assert cut("short", 20, at="sentence") == "short"


# --- Key figures ------------------------------------------------------------------------------


def test_sample_post_figures_match_the_labels() -> None:
    """The sample post yields exactly its labelled key figures, in order."""
    labels = json.loads((FIXTURES / "labels.json").read_text(encoding="utf-8"))
    want = next(a for a in labels["articles"] if a["path"].endswith("ai-capital.md"))
    fm, body = read_article(SAMPLE)
    assert [k.value for k in summarize(body, fm, DEFAULT)[1]] == [k["value"] for k in want["key_figures"]]


def test_front_matter_key_figures_win() -> None:
    """Front matter key_figures (strings or {value, label}) are used as given."""
    body = "Body with **12%** growth."
    assert summarize(body, {"key_figures": ["$380 million raised"]}, DEFAULT)[1] == [
        KeyFigure("$380 million raised", "")
    ]
    fm = {"key_figures": [{"value": "4.2万列", "label": "开行量"}, {"value": "+9%"}]}
    assert summarize(body, fm, DEFAULT)[1] == [KeyFigure("4.2万列", "开行量"), KeyFigure("+9%", "")]


def test_bold_that_is_not_strong_emphasis_is_no_candidate() -> None:
    """Bold inside code spans, code blocks, HTML blocks, footnotes or escaped is never read."""
    body = (
        "Code `**10%**` and \\*\\*20%\\*\\* here.\n\n```\n**30%**\n```\n\n<div>\n**40%**\n</div>\n\n"
        "Text[^1] with **50%**.\n\n[^1]: Note with **60%**.\n"
    )
    assert values(body) == ["50%"]


def test_underscore_strong_and_nested_emphasis_count() -> None:
    """`__x__` and `***x***` are strong emphasis too."""
    assert values("Grew __50%__ and ***42%*** this year.") == ["50%", "42%"]


def test_repeated_value_keeps_its_first_place() -> None:
    """A value bolded twice is listed once, with the context of its first sentence."""
    got = summarize("First **20万辆** here. Then **3 km** and **20万辆** again.", {}, DEFAULT)[1]
    assert got == [KeyFigure("20万辆", "First 20万辆 here."), KeyFigure("3 km", "Then 3 km and 20万辆 again.")]


def test_context_is_the_sentence_in_its_own_block() -> None:
    """A list item is its own sentence scope; `；` ends a context sentence."""
    body = "Intro.\n\n- 项目总投资约**140亿元**，由三家央企联合出资；\n- 总装机容量为**350万千瓦**；其余。\n"
    got = summarize(body, {}, DEFAULT)[1]
    assert got == [
        KeyFigure("140亿元", "项目总投资约140亿元，由三家央企联合出资；"),
        KeyFigure("350万千瓦", "总装机容量为350万千瓦；"),
    ]


def test_labelled_dev_corpus(tmp_path: Path) -> None:
    """Every labelled dev article gets its labelled TL;DR and key figure values, judged against its neighbours."""
    labels = json.loads((FIXTURES / "labels.json").read_text(encoding="utf-8"))
    content = FIXTURES / "content"
    config = tmp_path / "config.yaml"
    config.write_text("site: {timezone: Asia/Shanghai}\n", encoding="utf-8")
    articles, _ = scan(content, load_settings(config, env={}, overrides={"content": str(content)}))
    plates = neighbour_boilerplate(articles, articles)
    for lab in labels["articles"]:
        if lab.get("skip") or "error" in lab:
            continue
        path = content / lab["path"]
        source = path / "index.md" if path.is_dir() else path
        fm, body = read_article(source)
        plate = plates.get(source.absolute(), NO_BOILERPLATE)
        got_tldr, figures = summarize(body, fm, DEFAULT, boilerplate=plate)
        assert re.sub(r"\s+", " ", got_tldr) == re.sub(r"\s+", " ", lab["tldr"]), lab["path"]
        assert [k.value for k in figures] == [k["value"] for k in lab["key_figures"]], lab["path"]


# --- Robustness -------------------------------------------------------------------------------

_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
_front_matter = st.dictionaries(
    st.sampled_from(["tldr", "summary", "description", "key_figures", "title", "x"]), _values, max_size=5
)
_markdown_bits = st.sampled_from(
    ["**", "__", "*", "`", "```\n", "> ", "- ", "1. ", "# ", "\n", "\n\n", "[", "](", ")", "[^1]", "[^1]: ",
     "{{<", ">}}", "{{%", "%}}", "{%", "{{", "}}", "<!--more-->", "<div>", "TL;DR:", "12%", "3亿美元", "。", ". "]
)


@settings(max_examples=300, deadline=None)
@given(body=st.lists(_markdown_bits | st.text(max_size=20), max_size=40).map("".join), fm=_front_matter)
def test_summarize_never_raises(body: str, fm: dict[str, Any]) -> None:
    """Any body and any front matter give a TL;DR string and a list of figures, never an error."""
    text, figures = summarize(body, fm, DEFAULT)
    assert isinstance(text, str) and all(isinstance(k, KeyFigure) for k in figures)
    assert len(text) <= DEFAULT.tldr_max_chars + 1
    # The same stages without summarize's safety net: a bug must show here, not be swallowed.
    markdown, inner = strip_templates(body)
    tokens = parse(markdown)
    blocks = list(text_blocks(tokens, with_strong=True))
    tldr_text(tokens, blocks, fm, inner)
    body_figures(blocks)
    front_matter_figures(fm.get("key_figures"))


@given(body=st.text(max_size=300), fm=st.none() | st.lists(st.integers()) | st.text(max_size=5))
def test_summarize_accepts_non_mapping_front_matter(body: str, fm: Any) -> None:
    """Front matter that is not a mapping is read as empty, never an error: the body's TL;DR is still found."""
    assert summarize(body, fm, DEFAULT) == summarize(body, {}, DEFAULT)
    said = "TL;DR: The cache now stores only what the scan made.\n\n" + body
    assert summarize(said, fm, DEFAULT)[0] == "The cache now stores only what the scan made."


# --- §4's skips and lead-ins (second edition) ----------------------------------------------------


@pytest.mark.parametrize("marker", ["**TL;DR.**", "TL;DR:", "TLDR —", "**tl/dr** –", "TL;DR：", "TL;DR -"])
def test_tldr_marker_loses_any_punctuation(marker: str) -> None:
    """`**TL;DR.**`, `TL;DR —` and the like leave no stray punctuation at the start."""
    assert tldr(f"{marker} Builds are **35%** faster.\n\nMore.") == "Builds are 35% faster."


def test_tldr_heading_takes_the_list_that_follows() -> None:
    """A `## TL;DR` heading's text is the block after it; a list is its items joined by a space."""
    body = "## TL;DR\n\n- Throughput is up **2.4x**.\n- Tail latency fell.\n\nWe ran it.\n"
    assert tldr(body) == "Throughput is up 2.4x. Tail latency fell."


def test_lead_in_takes_its_list() -> None:
    """A paragraph ending `:` followed by a list: items without their final `.`, joined by `; `, ending `.`."""
    body = "Three things changed this quarter:\n\n- Revenue grew **18%**.\n- We hired 12 engineers;\n- Churn fell.\n"
    assert tldr(body) == "Three things changed this quarter: Revenue grew 18%; We hired 12 engineers; Churn fell."


def test_chinese_lead_in_joins_with_chinese_semicolons() -> None:
    """After `：` the items are joined by `；`, end with `。`, with no space after the lead-in."""
    body = "本季度有三件事：\n\n1. 营收增长。\n2. 招聘了工程师；\n"
    assert tldr(body) == "本季度有三件事：营收增长；招聘了工程师。"


def test_tldr_lead_in_after_marker_takes_its_list() -> None:
    """`TL;DR: This release ships:` then a list gives the lead-in and the items, not the lead-in alone."""
    body = "TL;DR: This release ships day-0 support:\n\n- for the new model\n- for old GPUs\n"
    assert tldr(body) == "This release ships day-0 support: for the new model; for old GPUs."


def test_description_that_repeats_the_title_is_skipped() -> None:
    """A description equal to the title (case, spaces and punctuation aside) is not the TL;DR."""
    fm = {"title": "Automated cranes reach the harbour", "description": "Automated Cranes reach the harbour."}
    assert tldr("The port moved more containers.", fm) == "The port moved more containers."


def test_label_paragraph_is_skipped() -> None:
    """A paragraph all of whose text is bold (brackets aside), like `[**编者按**]`, is not the first paragraph."""
    assert tldr("[**Editor's note**]\n\nThe port grew.") == "The port grew."
    assert tldr("[**编者按**]\n\n港口扩建完成。") == "港口扩建完成。"


@pytest.mark.parametrize("line", ["本文 **1024** 字，阅读 **3** 分钟。", "This is a 5 min read.", "A 6 minute read."])
def test_reading_time_line_is_skipped(line: str) -> None:
    """A reading-time or length line is never the TL;DR: the next paragraph is."""
    assert tldr(f"{line}\n\nThe real news.") == "The real news."


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="Ab .,。！-\u00a0ßẞİﬁ中", max_size=12), st.text(alphabet="Ab .,。！-ßẞİﬁ中", max_size=12))
def test_title_is_compared_letter_by_letter(text: str, title: str) -> None:
    """A text is the title when its letters, case-folded, are the title's: found without folding it all."""
    key = _title_key(title)
    assert _is_title(text, key) == (_title_key(text) == key)
    assert _is_title("  The  Title!", _title_key("the title")) and not _is_title("The Title 2", _title_key("the title"))


FLAT_PIECES = ["**", "a", "中", " ", "  ", "&#32;", "> ", "[!NOTE]", "\n", "\n\n", "- ", "。", "*"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(FLAT_PIECES), max_size=16).map("".join))
def test_flat_text_is_the_text_read_without_strong_marks(markdown: str) -> None:
    """What §7 compares of a block made with strong marks is the text made without them."""
    marked = list(text_blocks(parse(markdown), with_strong=True))
    assert [b.flat for b in marked] == [b.text for b in text_blocks(parse(markdown))]


@pytest.mark.parametrize("markdown", ["**&#32;a** b", "a **b&#32;**", "a **&#32;** b", "x **y** z"])
def test_flat_text_has_no_space_a_strong_mark_stood_beside(markdown: str) -> None:
    """A bold span that starts or ends with a space leaves no space at the text's ends, nor two in it."""
    (marked,) = text_blocks(parse(markdown), with_strong=True)
    (unmarked,) = text_blocks(parse(markdown))
    assert marked.flat == unmarked.text and "  " not in marked.flat and marked.flat == marked.flat.strip()


def test_bold_alert_marker_is_an_alert_marker_without_the_marks() -> None:
    """`> **[!NOTE]** Mind this.`: §7 reads "Mind this."; the block's own text keeps the bold marker."""
    (block,) = text_blocks(parse("> **[!NOTE]** Mind this.\n"), with_strong=True)
    assert block.flat == "Mind this." and block.text == "[!NOTE] Mind this."
