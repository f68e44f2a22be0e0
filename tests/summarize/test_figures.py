"""The key-figure recogniser and its sentence contexts (spec §5)."""

from __future__ import annotations

import pytest

from digest.summarize.figures import context_for, figure_value, is_key_figure, sentence_at

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
