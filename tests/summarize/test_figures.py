"""The key-figure recogniser and its sentence contexts (spec §5)."""

from __future__ import annotations

import re
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from digest.models import KeyFigure
from digest.summarize import figures
from digest.summarize.figures import (
    body_figures,
    context_for,
    figure_value,
    is_key_figure,
    sentence_at,
    states_reading_time,
)
from digest.summarize.plaintext import parse, text_blocks
from digest.text import SENTENCE_ENDS, is_sentence_end

# Quantities, mostly taken from the spec's own table and the labelled corpus.
FIGURES = [
    # currency before
    "$1.2 billion", "$249", "US$5", "HK$ 300", "RMB 100", "USD 5", "EUR20", "CNY 1,000", "€4.5bn",
    "£3", "¥500", "￥500", "RMB100",
    # share or multiple
    "45%", "45％", "3‰", "3×", "2.1x", "12倍", "0.5个百分点", "25pp", "50bp", "25 basis points",
    # magnitude
    "3万", "2万亿", "5 thousand", "2.5 million", "3 billion", "1 trillion", "5k", "3bn", "2tn", "5K",
    "2.3bn", "1,091 billion",
    # money and Chinese counters
    "100元", "5美元", "37家", "2,400 名", "1,200 个", "15级", "3成", "45万人", "1.3亿次",
    # Chinese measures
    "3 周", "1.8 毫秒", "28纳米", "320毫米", "4.6万吨", "350万千瓦", "30摄氏度", "60帧",
    # unit symbols
    "42.195 km", "120 km/h", "90 m²", "13 GW", "31°C", "30℃", "8 GB", "100 Mbps", "24 h", "3.2 GHz",
    # English count nouns, bare big numbers, ratios
    "400 startups", "12 finishers", "72 hours", "1,000 qubits", "40,000 tonnes", "450,000", "4,800",
    "12345", "1 in 12", "1 out of 5",
    # signs, ranges and quantities inside longer values
    "+33%", "-3.2%", "~750 亿美元", "600-800 亿美元", "500-3000元", "1200亿甚至2000亿美元",
    "超过 130 亿美元", "35倍的CPU", "Docker Hub遭入侵，19万账号被泄露", "３０亿", "2000亿美元",
    "$380 million raised", "+27% on debut",
]

NOT_FIGURES = [
    # versions and identifiers
    "v1beta1", "v1alpha3", "8u212", "5xx", "k8s", "1.11.1", "Istio 1.1.4", "Envoy 1.12.0", "Q1",
    "IPv6", "CVE-2021-44228", "COVID-19", "5G", "3rd", "#1339", "1.x",
    # years, dates and times
    "2019", "2019年", "FY2025", "1990s", "2019年3月5日", "2025 年 3 月 31 日", "2025-07-01", "12点",
    "18:30", "12点30分", "更新（2025 年 5 月 18 日）",
    # labels and list-like starts
    "第1章", "第2季度", "步骤 1", "阶段1", "Figure 1", "Step 2", "Table 3", "Part 4", "No. 5",
    "1. 先灰度，后全量", "2. 观察 5xx 响应", "1、观察",
    # bare small numbers, function words, no digits, too long
    "9999", "500", "1.5", "500-3000", "Kubernetes 1.15", "3 is", "5 and", "数十亿美元", "rebuilding",
    "The outage lasted 4 hours and touched every region we monitor.",
]


@pytest.mark.parametrize("value", FIGURES)
def test_quantity_is_a_figure(value: str) -> None:
    """Each spec example of a quantity is recognised as a key figure."""
    assert is_key_figure(value)


@pytest.mark.parametrize("value", NOT_FIGURES)
def test_non_quantity_is_not_a_figure(value: str) -> None:
    """Versions, years, dates, labels and small bare numbers are never key figures."""
    assert not is_key_figure(value)


def test_value_over_24_characters_is_not_a_figure() -> None:
    """A value longer than 24 characters is a sentence, not a figure, whatever it holds."""
    assert is_key_figure("x" * 20 + " 12%")
    assert not is_key_figure("x" * 21 + " 12%")


def test_site_figure_units_extend_the_table() -> None:
    """summary.figure_units adds words that make a number a figure."""
    assert not is_key_figure("5 Widgets")
    assert is_key_figure("5 Widgets", ["Widgets"])
    assert is_key_figure("3 mu", ["mu"]) and not is_key_figure("3 mu")


@pytest.mark.parametrize(
    ("raw", "value"),
    [(" 12%。", "12%"), ("4.2万列，", "4.2万列"), ("3 km; ", "3 km"), ("12%:：", "12%"), ("v1.2", "v1.2")],
)
def test_value_is_trimmed_of_trailing_punctuation(raw: str, value: str) -> None:
    """A candidate value loses surrounding spaces and trailing 。，,.;；:：."""
    assert figure_value(raw) == value


def test_sentence_ends_at_cjk_marks_and_period_space() -> None:
    """Sentences end at 。！？；!? and at a period followed by a space, not inside Reflection.Ai."""
    text = "第一句。AI公司Reflection.Ai融资30亿美元；后面。 Next one. Last"
    start = text.index("30亿美元")
    a, b = sentence_at(text, start, start + len("30亿美元"))
    assert text[a:b] == "AI公司Reflection.Ai融资30亿美元；"
    start = text.index("Next")
    a, b = sentence_at(text, start, start + 4)
    assert text[a:b] == "Next one."


def test_short_sentence_is_the_whole_context() -> None:
    """A sentence of at most 80 characters is the context as it is."""
    sentence = "Modern hydrometallurgical plants claim to recover 95% of those metals."
    assert context_for(sentence, 50, 53) == sentence


@pytest.mark.parametrize(
    "sentence",
    [
        "Two members of the committee voted for a cut of 25 basis points, arguing that real interest"
        " rates were already high enough to weigh on hiring.",
        "AI编程工具Anysphere和Reflection.Ai获得巨额融资，AI语音生成公司ElevenLabs估值超30亿美元，以及AI军事公司"
        "Shield AI的2.4亿美元融资，无不指向一个事实：差异化和专业化正成为新的“护城河”。",
        "一" * 150 + "2.4亿美元" + "二" * 150,
        "word " * 30 + "42%" + " more" * 30,
    ],
)
def test_long_sentence_is_cut_around_the_value(sentence: str) -> None:
    """A long sentence is cut to at most 80 characters that hold the value, `…` at each cut side."""
    value = "2.4亿美元" if "2.4亿美元" in sentence else "25 basis points" if "basis" in sentence else "42%"
    start = sentence.index(value)
    got = context_for(sentence, start, start + len(value))
    core = got.strip("…")
    assert value in core and len(core) <= 80 and core in sentence
    assert got.startswith("…") == (not sentence.startswith(core))
    assert got.endswith("…") == (not sentence.endswith(core))


def figures_of(markdown: str, **kwargs: object) -> list[KeyFigure]:
    """The key figures that the body figure reader finds in a Markdown body."""
    return body_figures(list(text_blocks(parse(markdown), with_strong=True)), **kwargs)  # type: ignore[arg-type]


def values_of(markdown: str, **kwargs: object) -> list[str]:
    return [f.value for f in figures_of(markdown, **kwargs)]


@pytest.mark.parametrize(
    "value", ["80B-A3B model", "120B-A10B", "Qwen3-80B-A3B", "Mixtral-8x22B", "Gemma-2-9B", "T2V-14B", "8x22B"]
)
def test_name_that_mixes_letters_and_digits_is_not_a_figure(value: str) -> None:
    """A number inside a name that joins letters to digits is no quantity, even before a unit."""
    assert not is_key_figure(value)


@pytest.mark.parametrize("value", ["64 nodes of GB200", "5k-10k users", "10x-100x", "13B parameters", "2.1x"])
def test_number_beside_a_name_or_in_a_range_is_still_a_figure(value: str) -> None:
    """Only the run joined to the number makes a name (`64 nodes of GB200`); a range is no name."""
    assert is_key_figure(value)


@pytest.mark.parametrize("value", ["21457890", "33069364", "1234567", "钉钉群 21457890", "1234567 members"])
def test_bare_number_of_seven_digits_is_not_a_figure(value: str) -> None:
    """Seven digits or more with no separator are a group, phone or order number."""
    assert not is_key_figure(value)


@pytest.mark.parametrize("value", ["12345", "123456", "1,234,567", "$1234567"])
def test_big_number_with_separator_or_under_seven_digits_is_a_figure(value: str) -> None:
    """Five or six bare digits, a separated number or money stay figures."""
    assert is_key_figure(value)


@pytest.mark.parametrize("value", ["2019 roadmap", "2018 edition planning", "2025 路线图", "2024 Roadmap"])
def test_year_before_a_word_is_not_a_figure(value: str) -> None:
    """A year followed by a word that is not a unit of the table is a year, not a count."""
    assert not is_key_figure(value)


@pytest.mark.parametrize("value", ["2000 名", "2048 GB", "2,019 startups", "1899 startups"])
def test_year_shaped_number_before_a_unit_is_a_figure(value: str) -> None:
    """A unit of the table after a year-shaped number, or a number outside 1900-2099, still counts."""
    assert is_key_figure(value)


@pytest.mark.parametrize(
    "value",
    ["ISL=2k, OSL=1k", "BS=32, SEQ=4k", "22L -> 6L", "48L -> 12L", "8 GB → 4 GB", "4k <- 8k", "2x ← 1x",
     "--max-model-len 131072", "--max-batch-tokens 65536", "-n 50000"],
)
def test_notation_and_flags_are_not_figures(value: str) -> None:
    """A value with `=`, an arrow, or a leading command-line flag is notation or code."""
    assert not is_key_figure(value)


def test_negative_number_is_not_a_flag() -> None:
    """A leading minus before a digit is a sign, not a flag."""
    assert is_key_figure("-3.2%") and is_key_figure("--5%")


@pytest.mark.parametrize(
    "markdown",
    [
        "本文 **7060 字** 阅读 **15 分钟**",
        "本文 7060 字，阅读 **15 分钟**。",
        "全文约 **3,200 字**，预计阅读时间 8 分钟。",
        "阅读时间：约 **12 分钟**",
        "This is a **5 min read**. The changelog lists **214 changes**.",
        "Thanks for reading: this was a **6 minute read**.",
        "A **10-minute read** for the weekend.",
        "It takes **8 minutes** to read.",
        "Reading time: **7 minutes**",
        "The essay runs **1,200 words** and is free.",
    ],
)
def test_reading_time_or_length_sentence_gives_no_figure(markdown: str) -> None:
    """A value whose sentence states a reading time or a length is never a figure."""
    values = values_of(markdown)
    assert values in ([], ["214 changes"]), values


def test_reading_sentence_rule_leaves_other_sentences() -> None:
    """Only the sentence that states the reading time is left out, not its neighbours."""
    assert values_of("This is a **5 min read**. Builds got **35%** faster.\n") == ["35%"]
    assert values_of("文档站阅读量突破 **12万次**。\n") == ["12万次"]


def test_whole_paragraph_bold_is_a_pseudo_heading() -> None:
    """A bold span that is its whole paragraph (punctuation aside) is a heading, not a figure."""
    markdown = "**13B Model Results**\n\n**70B Model Results:**\n\n**$3.2 billion**\n\nWe raised **$3.2 billion**.\n"
    got = figures_of(markdown)
    assert [(f.value, f.context) for f in got] == [("$3.2 billion", "We raised $3.2 billion.")]


def test_bold_list_item_and_sentence_end_bold_are_not_pseudo_headings() -> None:
    """A list item that is all bold, and a bold span that ends a sentence, are still figures."""
    markdown = "- **18%**\n- We hired **12 engineers**\n\nThe changelog lists\n**214 changes**.\n"
    assert values_of(markdown) == ["18%", "12 engineers", "214 changes"]


def test_bold_in_headings_is_never_a_figure() -> None:
    """Strong emphasis inside a heading is not a figure."""
    assert values_of("## Revenue up **45%**\n\nText.\n") == []


TABLE = """\
| Model | Before | After | Change |
| --- | --- | --- | --- |
| **Gemma-2-9B** | 1,850 tok/s | 4,420 tok/s | **2.4x** |
| **45% cohort** | 310 tok/s | 690 tok/s | **2.2x** |
"""


def test_table_figure_takes_its_row_as_sentence() -> None:
    """A figure in a table cell has its row, cells joined by ` · `, as its context."""
    got = figures_of(TABLE)
    assert [(f.value, f.context) for f in got] == [
        ("2.4x", "Gemma-2-9B · 1,850 tok/s · 4,420 tok/s · 2.4x"),
        ("2.2x", "45% cohort · 310 tok/s · 690 tok/s · 2.2x"),
    ]


def test_table_row_first_cell_is_never_a_figure() -> None:
    """The first cell names the row: bold there is no figure, even when it holds a quantity."""
    assert "45% cohort" not in values_of(TABLE)
    assert values_of("| a | b |\n| --- | --- |\n| x | **45% cohort** |\n") == ["45% cohort"]


def test_long_row_is_cut_around_the_value() -> None:
    """A row over 80 characters is cut around its figure like any sentence."""
    row = "| name | " + " | ".join(["some long descriptive cell text"] * 3) + " | **1.39×** |\n"
    got = figures_of("| a | b | c | d | e |\n| --- | --- | --- | --- | --- |\n" + row)
    assert len(got) == 1 and got[0].context.startswith("…") and got[0].context.endswith("1.39×")
    assert len(got[0].context.strip("…")) <= 80


def test_values_equal_without_whitespace_count_once() -> None:
    """`50% 采集` and `50%采集`, `50% of users` and `50 % of users`: the first place is kept."""
    markdown = "覆盖 **50% 采集**，另有 **50%采集**。\n\nReached **50% of users**; never **50 % of users** before.\n"
    got = figures_of(markdown)
    assert [f.value for f in got] == ["50% 采集", "50% of users"]
    assert got[1].context == "Reached 50% of users; never 50 % of users before."


def test_boilerplate_sentence_gives_no_figure() -> None:
    """A figure whose sentence the summarizer's §7 predicate calls boilerplate is left out."""
    markdown = "本周社区共合并 **25 个** PR，新增贡献者 **6 位**。\n\n访问量突破 **12万次**。\n"
    asked: list[str] = []

    def template(sentence: str) -> bool:
        asked.append(sentence)
        return sentence.startswith("本周社区")

    assert values_of(markdown, is_boilerplate=template) == ["12万次"]
    assert asked[0] == "本周社区共合并 25 个 PR，新增贡献者 6 位。"
    assert values_of(markdown) == ["25 个", "6 位", "12万次"]


def test_duplicate_of_a_boilerplate_value_keeps_its_later_place() -> None:
    """A value first seen in a boilerplate sentence is still a figure where it is news."""
    markdown = "Join our **12,000 members** today!\n\nThe meetup drew **12,000 members**.\n"
    got = figures_of(markdown, is_boilerplate=lambda s: s.startswith("Join"))
    assert [(f.value, f.context) for f in got] == [("12,000 members", "The meetup drew 12,000 members.")]


ENDS = SENTENCE_ENDS + "；"
CJK = f"[{figures._CJK}]"
CLAUSE_ENDS = "，,、；;：:）)—"
TEXTS = st.text(alphabet="ab 1.。！？；!?，,、：)—中文\u3000\uff01\t\n", max_size=120)


def reference_sentence_at(text: str, start: int, end: int) -> tuple[int, int]:
    """A figure's sentence, read character by character from the value outwards."""
    a = start
    while a > 0 and not is_sentence_end(text, a - 1, ENDS):
        a -= 1
    b = max(end, a)
    while b < len(text) and not is_sentence_end(text, b, ENDS):
        b += 1
    b = min(b + 1, len(text))
    while a < b and text[a].isspace():
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    return a, b


@settings(max_examples=300, deadline=None)
@given(TEXTS, st.integers(0, 120), st.integers(0, 24))
def test_figure_sentence_is_found_from_the_sentence_ends(text: str, start: int, length: int) -> None:
    """sentence_at, from the list of sentence ends, bounds the sentence a character walk would."""
    start = min(start, len(text))
    end = min(start + length, len(text))
    assert sentence_at(text, start, end) == reference_sentence_at(text, start, end)


def reference_cuts(s: str) -> tuple[list[int], set[int]]:
    """Word boundaries (around whitespace and CJK characters) and clause ends, character by character."""
    cuts, clauses = {0, len(s)}, set()
    for i in range(1, len(s)):
        left, right = s[i - 1], s[i]
        if left in CLAUSE_ENDS:
            clauses.add(i)
            cuts.add(i)
        elif left.isspace() or right.isspace() or re.match(CJK, left) or re.match(CJK, right):
            cuts.add(i)
    return sorted(cuts), clauses


@settings(max_examples=300, deadline=None)
@given(TEXTS, st.integers(0, 120), st.integers(0, 120))
def test_cut_points_of_a_window_are_the_sentences_cut_points_there(s: str, lo: int, width: int) -> None:
    """The cut points found in s[lo:hi] are the sentence's own cut points from lo to hi."""
    lo = min(lo, len(s))
    hi = min(lo + width, len(s))
    cuts, clauses = reference_cuts(s)
    assert figures._boundaries(s) == (cuts, clauses)
    window, window_clauses = figures._boundaries(s, lo, hi)
    assert window == [c for c in cuts if lo <= c <= hi]
    assert window_clauses == {c for c in clauses if lo <= c <= hi}


def test_units_are_looked_up_by_their_first_character() -> None:
    """A unit after a number is found among those of its first character as among all of them."""
    units = figures._units(["Stück", "km/h", "tokens"])

    def by_scan(rest: str) -> bool:  # every unit in turn, as before the index
        for unit in units:
            if rest.startswith(unit) or (unit in figures._CASELESS and rest[: len(unit)].lower() == unit):
                nxt = rest[len(unit): len(unit) + 1]
                if unit[-1].isascii() and unit[-1].isalpha() and nxt and nxt.isascii() and nxt.isalnum():
                    continue
                return True
        return False

    rests = [u + tail for u in units for tail in ("", " ", "s", "x", "1", "。")]
    rests += [r.upper() for r in rests] + [r.title() for r in rests] + ["", " ", "xx", "İ", "\u212a"]
    assert [figures._unit_after(r, units) for r in rests] == [by_scan(r) for r in rests]
    assert figures._unit_after("MILLION users", units) and figures._unit_after("Stück", units)
    assert not figures._unit_after("kmx", units)


def test_reading_time_words_match_only_their_own_letters() -> None:
    """`read` and `words` match, ignoring case, only these letters (and `ſ` for s): the lower-cased
    sentence must hold "read" or "word" for those branches of the reading-time rule."""
    letters = re.compile("[readwo]", re.I)
    assert [chr(cp) for cp in range(sys.maxunicode + 1) if letters.fullmatch(chr(cp))] == list("ADEORWadeorw")
    assert states_reading_time("A 5-MINUTE READ.") and states_reading_time("1,200 WORDS")
    assert not states_reading_time("Builds got 35% faster.")
