"""Which bold values are key figures, and the sentence around each (spec §5).

A value is a key figure when it holds a quantity: a number tied to a currency, a unit, a
counter or a count noun, a big bare number, or one side of a ratio. Versions, identifiers,
years, dates, times and labels are never quantities. The regular expressions here only ever
read a short value string or a block's plain text, never raw Markdown.
"""

from __future__ import annotations

import bisect
import functools
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from itertools import chain

from digest.models import KeyFigure
from digest.summarize.plaintext import Block, StrongSpan
from digest.text import SENTENCE_ENDS

MAX_VALUE_CHARS = 24
MAX_CONTEXT_CHARS = 80

CURRENCIES = ("US$", "HK$", "$", "€", "£", "¥", "￥", "RMB", "USD", "EUR", "CNY")
UNITS = (
    # share or multiple
    "%", "％", "‰", "×", "x", "倍", "个百分点", "pp", "bp", "basis points",
    # magnitude
    "万", "亿", "千", "百万", "千万", "万亿", "thousand", "million", "billion", "trillion",
    "k", "m", "mn", "bn", "tn", "K", "M", "B", "T",
    # money
    "元", "美元", "欧元", "英镑", "日元", "港元", "韩元",
    # Chinese counters
    "个", "家", "名", "人", "位", "台", "辆", "架", "款", "项", "次", "座", "所", "户", "条", "篇",
    "件", "张", "颗", "种", "支", "只", "匹", "头", "本", "部", "场", "届", "轮", "批", "笔", "份",
    "套", "枚", "艘", "栋", "间", "级", "成", "分", "票", "股", "单", "例", "起", "处", "块",
    # Chinese measures
    "年", "天", "周", "小时", "分钟", "秒", "毫秒", "岁", "纳米", "微米", "毫米", "厘米", "米",
    "公里", "千米", "英里", "海里", "平方米", "平方公里", "亩", "公顷", "克", "毫克", "公斤",
    "千克", "斤", "吨", "升", "毫升", "立方米", "瓦", "千瓦", "兆瓦", "吉瓦", "度", "千瓦时",
    "摄氏度", "字节", "像素", "帧",
    # unit symbols
    "nm", "µm", "mm", "cm", "km", "mi", "ft", "m²", "km²", "ha", "mg", "g", "kg", "t", "lb", "oz",
    "ml", "mL", "L", "mph", "km/h", "W", "kW", "MW", "GW", "kWh", "MWh", "GWh", "TWh", "V", "A",
    "°C", "℃", "°F", "KB", "MB", "GB", "TB", "PB", "Mbps", "Gbps", "ms", "s", "h", "Hz", "GHz",
    "fps", "px",
)
# Spelled-out words a writer may capitalise ("2.5 Million"); symbols stay case-sensitive (m ≠ M).
_CASELESS = frozenset({"thousand", "million", "billion", "trillion", "basis points"})
FUNCTION_WORDS = frozenset(
    "is was are has had does did and the this that its for with from into over about after "
    "since than".split()
)

# Full-width digits and point read as ASCII; same length, so positions still match the value.
_WIDE = str.maketrans("０１２３４５６７８９．，", "0123456789.,")
_NUMBER = re.compile(r"\d+(?:,\d{3}(?!\d))*(?:\.\d+)*")
# Dates and times are blanked out before numbers are looked for.
_DATE_TIME = re.compile(
    r"\d{4} ?年 ?\d{1,2} ?月(?: ?\d{1,2} ?[日号])?"
    r"|\d{1,2} ?月 ?\d{1,2} ?[日号]"
    r"|\d{4}[-/.]\d{1,2}[-/.]\d{1,2}"
    r"|\d{1,2}/\d{1,2}/\d{2,4}"
    r"|\d{1,2}[:：]\d{2}(?:[:：]\d{2})?"
    r"|\d{1,2} ?[点时](?: ?\d{1,2} ?分)?(?: ?\d{1,2} ?秒)?"
)
_RATIO = re.compile(r"\d+(?:\.\d+)? (?:in|out of) \d+")
_IDENTIFIER_BEFORE = re.compile(r"[A-Za-z][A-Za-z0-9_./-]*$|_$")
_LIST_START = re.compile(r"^\d+[.、](?!\d)")
_LABEL_BEFORE = re.compile(
    r"(?:第|步骤|阶段|附录|图|(?:^|[^\w]|[如见下上附])表"
    r"|(?<![A-Za-z])(?:figure|fig\.|step|table|part|no\.|nr\.|chapter|section|phase|stage|"
    r"item|page|p\.|vol\.|volume|episode|lesson|appendix|level|round|day|week|issue|pr)|#) ?$",
    re.I,
)
# A name that mixes letters and digits: the run of these characters around a number.
_NAME_CHARS = re.compile(r"[A-Za-z0-9._-]*")
_LETTER_DIGIT = re.compile(r"[A-Za-z]\d|\d[A-Za-z]")
# Notation and code: an assignment, an arrow, or a command-line flag (`--max-model-len 131072`).
_NOTATION = re.compile(r"=|->|<-|→|←|^--?[A-Za-z]")
# A sentence that states a reading time or a length (spec §5): `本文 4389 字`, `阅读 8 分钟`,
# `5 min read`, `1,200 words`.
_READING = re.compile(
    r"(?:本文|全文|文章)\s*(?:共|约|大约|有|计|共计)?\s*\d[\d,，.]*\s*(?:多|余)?\s*个?\s*字(?![段节符母体])"
    r"|字数\s*[:：]?\s*(?:约|大约)?\s*\d"
    r"|阅读\s*(?:时间|时长|用时)?\s*[:：]?\s*(?:约|大约|需|需要|预计)?\s*\d[\d.]*\s*(?:分钟|min)"
    r"|\d[\d.]*\s*分钟\s*(?:即可|可以|就能|能)?\s*(?:读完|阅读)"
    r"|(?<![A-Za-z])\d[\d.]*[\s-]*(?:min|mins|minutes?)\.?(?:[\s-]+|\s+to\s+)read\b"
    r"|\bread(?:ing)? time\s*[:：]"
    r"|(?<![\w.])\d[\d,]*\s+words\b",
    re.I,
)


def states_reading_time(sentence: str) -> bool:
    """Whether a sentence states a reading time or a length (spec §5); the TL;DR skips such lines too (§4)."""
    # Each of _READING's branches holds 字, 阅读, 分钟, "read" or "words" (whose letters only match
    # themselves in either case, and `ſ` for s): most sentences hold none, and the search costs 15 µs.
    if "字" in sentence or "阅读" in sentence or "分钟" in sentence:
        return _READING.search(sentence) is not None
    lowered = sentence.lower()
    return ("read" in lowered or "word" in lowered) and _READING.search(sentence) is not None


_CJK = "\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef"  # a regex class's ranges: CJK characters and punctuation
# A figure's sentence also ends at a Chinese semicolon: its clauses are often separate statements.
_FIGURE_SENTENCE_ENDS = SENTENCE_ENDS + "；"
_CLAUSE_ENDS = "，,、；;：:）)—"


def figure_value(raw: str) -> str:
    """A bold span's plain text as a candidate value: trimmed, trailing punctuation removed."""
    return raw.strip().rstrip("。，,.;；:：").strip()


def _units(extra: Iterable[object]) -> tuple[str, ...]:
    return _unit_table(tuple(w.strip() for w in extra if isinstance(w, str) and w.strip()))


@functools.lru_cache(maxsize=8)
def _unit_table(extra: tuple[str, ...]) -> tuple[str, ...]:
    """The units with the site's own added, longest first (made once per site's list, not per value)."""
    return tuple(sorted({*UNITS, *extra}, key=len, reverse=True))  # longest first: "km/h" before "km"


_DEFAULT_UNITS = _units(())


@functools.lru_cache(maxsize=8)
def _units_by_first(units: tuple[str, ...]) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """The units by their first character; and the caseless ones again by it (a caseless unit's first
    character is its text's first character lower-cased)."""
    exact: dict[str, list[str]] = {}
    caseless: dict[str, list[str]] = {}
    for unit in units:
        exact.setdefault(unit[0], []).append(unit)
        if unit in _CASELESS:
            caseless.setdefault(unit[0], []).append(unit)
    return exact, caseless


def _unit_after(rest: str, units: tuple[str, ...]) -> bool:
    """Whether `rest` (the text right after a number) starts with a unit, as a whole word."""
    if not rest:
        return False
    exact, caseless = _units_by_first(units)
    # Only the units that can start here: rest's first character, as it is or (a caseless unit) lower-cased.
    for unit in chain(exact.get(rest[0], ()), caseless.get(rest[0].lower(), ())):
        hit = rest.startswith(unit) or (unit in _CASELESS and rest[: len(unit)].lower() == unit)
        if not hit:
            continue
        if unit[-1].isascii() and unit[-1].isalpha():
            nxt = rest[len(unit): len(unit) + 1]
            if nxt and nxt.isascii() and nxt.isalnum():
                continue  # "5xx", "8u212": letters run on, so this is no unit
        return True
    return False


def _count_noun(rest: str) -> bool:
    match = re.match(r"[a-z]{3,}(?![A-Za-z])", rest)
    return match is not None and match.group(0) not in FUNCTION_WORDS


def _currency_before(before: str) -> bool:
    tail = before[:-1] if before.endswith(" ") else before
    for code in CURRENCIES:
        if tail.endswith(code):
            head = tail[: -len(code)]
            return not (code[0].isalpha() and head[-1:].isascii() and head[-1:].isalpha())
    return False


def _is_quantity(text: str, start: int, end: int, units: tuple[str, ...]) -> bool:
    """Whether the number text[start:end] is a quantity, by its neighbours."""
    number = text[start:end]
    before, after = text[:start], text[end:]
    if number.count(".") >= 2:
        return False  # a version such as 1.11.1
    if _currency_before(before):
        return True
    if _IDENTIFIER_BEFORE.search(before):
        return False  # joined to letters: v1beta1, k8s, FY2025, Q1, CVE-2021-44228, H.264
    if _LABEL_BEFORE.search(before):
        return False  # 第1章, Step 2, Figure 1
    plain = number.replace(",", "")
    bare_digits = "," not in number and "." not in number
    if bare_digits and len(plain) >= 7:
        return False  # a group, phone or order number: 钉钉群 21457890
    is_year = bare_digits and 1900 <= int(plain) <= 2099
    if is_year and re.match(r" ?年|s(?![A-Za-z])", after):
        return False  # the year 2019, the 1990s
    if after[:1].isascii() and after[:1].isalpha() and not _unit_after(after, units):
        return False  # 5xx, 8u212, 3rd
    if _in_name(text, end, units):
        return False  # 120B-A10B, 80B-A3B
    rest = after[1:] if after.startswith(" ") else after
    if _unit_after(rest, units):
        return True
    if is_year and rest[:1].isalpha():
        return False  # a year before a word: 2019 roadmap, 2018 edition planning
    if after.startswith(" ") and _count_noun(rest):
        return True
    return "," in number or len(plain.split(".")[0]) >= 5


def _in_name(text: str, end: int, units: tuple[str, ...]) -> bool:
    """Whether the run of name characters after a number (and its unit) joins a letter to a digit.

    `120B-A10B` and `80B-A3B` are names; `2.1x`, `5k-10k` (a range) and `60 GB200` are not.
    """
    run = _NAME_CHARS.match(text, end)
    tail = run.group(0) if run else ""
    if not tail:
        return False
    unit = next((u for u in _units_by_first(units)[0].get(tail[0], ()) if tail.startswith(u)), "")  # longest
    tail = tail[len(unit):]
    if not tail:
        return False  # the number and its unit only
    if re.fullmatch(r"[-~]\d+(?:\.\d+)?" + re.escape(unit), tail):
        return False  # a range: 500-3000, 5k-10k
    return bool(_LETTER_DIGIT.search(tail))


def is_key_figure(value: str, extra_units: Iterable[object] = ()) -> bool:
    """Whether a bold value holds a quantity (spec §5), after every exclusion."""
    if not value or len(value) > MAX_VALUE_CHARS:
        return False
    text = value.translate(_WIDE)
    if _LIST_START.match(text):
        return False  # "1. 先灰度", "2、观察"
    if _NOTATION.search(text):
        return False  # notation and code: BS=32, 48L -> 12L, --max-batch-tokens 65536
    units = _units(extra_units) if extra_units else _DEFAULT_UNITS
    text = _DATE_TIME.sub(lambda m: "\ue002" * len(m.group(0)), text)
    if _RATIO.search(text):
        return True
    return any(_is_quantity(text, m.start(), m.end(), units) for m in _NUMBER.finditer(text))


# digest.text.is_sentence_end(text, i, _FIGURE_SENTENCE_ENDS) for every i at once.
_FIGURE_SENTENCE_END = re.compile(f"[{re.escape(_FIGURE_SENTENCE_ENDS)}]|\\.(?= )")


def sentence_ends(text: str) -> list[int]:
    """Where a figure's sentence may end in `text`, in order."""
    return [m.start() for m in _FIGURE_SENTENCE_END.finditer(text)]


def sentence_at(text: str, start: int, end: int, ends: Sequence[int] | None = None) -> tuple[int, int]:
    """Bounds of the sentence of `text` that holds text[start:end] (`ends`: `sentence_ends(text)`)."""
    ends = sentence_ends(text) if ends is None else ends
    k = bisect.bisect_left(ends, start)
    a = ends[k - 1] + 1 if k else 0  # just after the last end before `start`
    k = bisect.bisect_left(ends, max(end, a))
    b = min(ends[k] + 1 if k < len(ends) else len(text), len(text))  # the first end from `end` on, included
    while a < b and text[a].isspace():
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    return a, b


# A cut before and after every whitespace or CJK character; a clause cut after every clause end.
_CUT_AROUND = re.compile(f"[\\s{_CJK}]+")
_CLAUSE_END = re.compile(f"[{re.escape(_CLAUSE_ENDS)}]")


def _boundaries(s: str, lo: int = 0, hi: int | None = None) -> tuple[list[int], set[int]]:
    """Cut points of a sentence from `lo` to `hi`: every word boundary, and which of them end a clause."""
    n = len(s)
    hi = n if hi is None else hi
    # Cut i depends on s[i - 1] and s[i]: only s[lo - 1:hi + 1] is read.
    clauses = {m.end() for m in _CLAUSE_END.finditer(s, max(lo - 1, 0), min(hi, n - 1))}  # s[i - 1] ends one
    cuts = clauses | {i for i in (0, n) if lo <= i <= hi}
    first, last = max(lo, 1), min(hi, n - 1)
    # i with s[i - 1] or s[i] in a run, 0 < i < n: a run [a, b) gives a to b.
    runs = [m.span() for m in _CUT_AROUND.finditer(s, max(lo - 1, 0), min(hi + 1, n))]
    cuts.update(*(range(max(a, first), min(b, last) + 1) for a, b in runs))
    return sorted(cuts), clauses


def context_for(sentence: str, start: int, end: int, limit: int = MAX_CONTEXT_CHARS) -> str:
    """The sentence, or a cut of at most `limit` characters around sentence[start:end] with `…`."""
    if len(sentence) <= limit:
        return sentence
    n = len(sentence)
    # A cut [a, b] holds the value: end - limit <= a <= start and end <= b <= start + limit.
    cuts, clauses = _boundaries(sentence, max(end - limit, 0), min(start + limit, n))
    best: tuple[int, int, int] | None = None  # (score, a, b)
    top = -1
    for a in cuts:
        if a > start:
            break
        k = bisect.bisect_right(cuts, a + limit) - 1
        b = cuts[k] if k >= 0 else a
        if b < end:
            continue
        score = (b - a) + 15 * ((a in clauses or a == 0) + (b in clauses or b == n))
        if score > top:
            best, top = (score, a, b), score
    if best is None:  # no boundary fits: a plain window centred on the value
        a = max(0, min(start - (limit - (end - start)) // 2, n - limit))
        best = (0, a, a + limit)
    _, a, b = best
    core = sentence[a:b].strip()
    return ("…" if a > 0 else "") + core + ("…" if b < n else "")


def _whole_paragraph(block: Block, span: StrongSpan) -> bool:
    """Whether a strong span is its paragraph's whole text, punctuation aside: a bold heading."""
    if block.kind != "paragraph" or block.listed:
        return False
    outside = block.text[: span.start] + block.text[span.end:]
    return all(c.isspace() or unicodedata.category(c)[0] in "PZ" for c in outside)


def _row_text(cells: Sequence[Block]) -> tuple[str, list[int]]:
    """A table row as one sentence, its cells' texts joined by ` · `, and where each cell starts."""
    parts: list[str] = []
    offsets: list[int] = []
    n = 0
    for cell in cells:
        if parts:
            n += 3
        offsets.append(n)
        parts.append(cell.text)
        n += len(cell.text)
    return " · ".join(parts), offsets


def _units_of(blocks: Sequence[Block]) -> Iterable[tuple[Block, str, int]]:
    """Each block with the text its figures' sentences come from, and its offset in that text.

    A table row is one unit: its cells' texts joined by ` · ` are the sentence of every figure in
    it. Empty cells are left out of the join.
    """
    i = 0
    while i < len(blocks):
        block = blocks[i]
        if block.kind != "cell" or block.row < 0:
            yield block, block.text, 0
            i += 1
            continue
        j = i
        while j < len(blocks) and blocks[j].kind == "cell" and blocks[j].row == block.row:
            j += 1
        cells = blocks[i:j]
        shown = [c for c in cells if c.text.strip()]
        row, offsets = _row_text(shown)
        at = {id(c): o for c, o in zip(shown, offsets)}
        for cell in cells:
            if id(cell) in at:
                yield cell, row, at[id(cell)]
        i = j


def body_figures(blocks: Sequence[Block], units: Sequence[object] = (),
                 is_boilerplate: Callable[[str], bool] | None = None) -> list[KeyFigure]:
    """Every bold quantity of the body in document order, each value once, with its sentence.

    Skipped: bold in headings, in a table row's first cell, and a bold span that is a whole
    paragraph; values whose sentence states a reading time or a length; and, when
    `is_boilerplate` is given, values whose sentence it calls boilerplate (spec §7), which it is
    asked with the whole plain-text sentence (a table's row).
    """
    figures: list[KeyFigure] = []
    seen: set[str] = set()
    for block, text, offset in _units_of(blocks):
        if block.kind == "heading" or block.column == 0:
            continue
        ends: list[int] | None = None  # sentence_ends(text), once for all the block's figures
        for span in block.strong:
            raw = block.text[span.start:span.end]
            value = figure_value(raw)
            key = re.sub(r"\s+", "", value)
            if key in seen or _whole_paragraph(block, span) or not is_key_figure(value, units):
                continue
            start = offset + span.start + raw.index(value)  # value is raw, trimmed
            if block.kind == "cell":
                a, b = 0, len(text)
            else:
                ends = sentence_ends(text) if ends is None else ends
                a, b = sentence_at(text, start, start + len(value), ends)
            sentence = text[a:b]
            if states_reading_time(sentence) or (is_boilerplate is not None and is_boilerplate(sentence)):
                continue
            seen.add(key)
            context = context_for(sentence, start - a, start - a + len(value))
            figures.append(KeyFigure(value, re.sub(r"\s+", " ", context)))
    return figures
