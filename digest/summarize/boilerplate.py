"""Boilerplate: what a site repeats in its articles, and so says nothing about one of them (spec §7).

An article's sentences (those of its `summary`, its `description` and its body's paragraphs,
quotes and list items) are kept as fingerprints: 8-byte hashes of each sentence's text
(whitespace collapsed, case-folded) and of its *mask* (digits runs as `#`, whitespace, `*` and
`_` removed, case-folded). The pipeline gathers the fingerprints of an article's 30 neighbours
and hands the summarizer a `Boilerplate`: the texts and masks at least 2 of them share. The
summarizer never reads another file.

Also here: the reading-time and length lines (`本文 1024 字，阅读 3 分钟。`, `5 min read`), which
sites repeat in every article and which are never a TL;DR nor a key figure's sentence (§4, §5).
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from markdown_it.token import Token

from digest.summarize.figures import states_reading_time
from digest.summarize.plaintext import MD, Parsed, inline_text, parse_body, strip_templates, text_blocks
from digest.text import is_sentence_end

NEIGHBOURS = 30  # an article's neighbours: the articles of its content folder dated just before it
SHARED_BY = 2  # a sentence is boilerplate when at least this many neighbours have it
MASK_MIN = 8  # sentences whose mask is shorter never count
SENTENCE_ENDS = "。！？；!?"  # and a `.` followed by a space (§5's sentence ends)

_SPACES = re.compile(r"\s+")
_DIGITS = re.compile(r"[0-9０-９]+")
_MASK_DROP = re.compile(r"[\s*_]+")
_HASH_BYTES = 8
_END_MARKS = re.compile(f"[{re.escape(SENTENCE_ENDS)}.]")  # where a sentence may end (a `.` only before a space)

def is_reading_time_line(text: str) -> bool:
    """Whether every sentence of a text states a reading time or a length: never a TL;DR (§4)."""
    sentences = split_sentences(text)
    return bool(sentences) and all(states_reading_time(s) for s in sentences)


# --- sentences, texts and masks -------------------------------------------------------------------


def split_sentences(text: str) -> list[str]:
    """A plain text's sentences, each with its end mark, stripped; sentence ends as in §5."""
    out: list[str] = []
    start = 0
    # Only the candidate marks are visited: a loop over every character costs several times as much.
    for match in _END_MARKS.finditer(text):
        i = match.start()
        if text[i] == "." and not is_sentence_end(text, i):
            continue
        piece = text[start : i + 1].strip()
        if piece:
            out.append(piece)
        start = i + 1
    rest = text[start:].strip()
    if rest:
        out.append(rest)
    return out


def sentence_text(sentence: str) -> str:
    """What two sentences share when they are the same text: whitespace collapsed, case-folded."""
    return " ".join(sentence.split()).casefold()  # str.split's whitespace is the regex's \s, and faster


def sentence_mask(sentence: str) -> str:
    """A sentence's mask: every run of digits `#`, whitespace, `*` and `_` removed, case-folded."""
    return _MASK_DROP.sub("", _DIGITS.sub("#", sentence)).casefold()


def _hash(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=_HASH_BYTES).digest(), "big")


@dataclass(frozen=True)
class Fingerprints:
    """One article's sentences as hashes: of their texts and of their masks, each once."""

    texts: frozenset[int] = frozenset()
    masks: frozenset[int] = frozenset()

    def encode(self) -> bytes:
        """Two sorted runs of 8-byte hashes, with the count of the first in front: what the scan cache stores."""
        texts, masks = sorted(self.texts), sorted(self.masks)
        out = len(texts).to_bytes(4, "big")
        return out + b"".join(h.to_bytes(_HASH_BYTES, "big") for h in (*texts, *masks))

    @classmethod
    def decode(cls, blob: bytes) -> Fingerprints:
        """The inverse of `encode`; raises ValueError on a blob it did not write."""
        if len(blob) < 4 or (len(blob) - 4) % _HASH_BYTES:
            raise ValueError("not a fingerprint blob")
        count = int.from_bytes(blob[:4], "big")
        hashes = [int.from_bytes(blob[i : i + _HASH_BYTES], "big") for i in range(4, len(blob), _HASH_BYTES)]
        if count > len(hashes):
            raise ValueError("not a fingerprint blob")
        return cls(frozenset(hashes[:count]), frozenset(hashes[count:]))


def fingerprints_of(sentences: Iterable[str]) -> Fingerprints:
    """The fingerprints of these sentences, leaving out those whose mask is shorter than MASK_MIN."""
    # Each distinct text hashed once: the same sentence, or the same mask, recurs in a body.
    texts: set[str] = set()
    masks: set[str] = set()
    for sentence in sentences:
        mask = sentence_mask(sentence)
        if len(mask) < MASK_MIN:
            continue
        texts.add(sentence_text(sentence))
        masks.add(mask)
    return Fingerprints(frozenset(map(_hash, texts)), frozenset(map(_hash, masks)))


def front_matter_text(value: Any) -> str:
    """A front matter string (tldr, summary, description) as plain text; '' for anything else."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return ""
    markdown, _ = strip_templates(str(value))
    try:
        # Inline parsing only: a summary that starts "1." or "#" is not a list or a heading.
        tokens = MD.parseInline(markdown)
    except Exception:
        return _SPACES.sub(" ", markdown).strip()
    return " ".join(inline_text(t.children) for t in tokens if t.type == "inline").strip()


def article_sentences(tokens: Sequence[Token], front_matter: Mapping[Any, Any]) -> Iterator[str]:
    """The sentences §7 compares: those of `summary`, `description` and the body's paragraphs, quotes, items."""
    for key in ("summary", "description"):
        yield from split_sentences(front_matter_text(front_matter.get(key)))
    for block in text_blocks(tokens):
        if block.kind == "paragraph":
            yield from split_sentences(block.plain)


def article_fingerprints(body: str | Parsed, front_matter: object) -> Fingerprints:
    """The fingerprints of one article, from its body (or the same parsed, `parse_body`) and front matter;
    never raises."""
    fm: Mapping[Any, Any] = front_matter if isinstance(front_matter, Mapping) else {}
    parsed = body if isinstance(body, Parsed) else parse_body(body)
    if not parsed.ok:
        return Fingerprints()
    try:
        return fingerprints_of(article_sentences(parsed.tokens, fm))
    except Exception:
        return Fingerprints()


# --- what the neighbours share ---------------------------------------------------------------------


@dataclass(frozen=True)
class Boilerplate:
    """The sentence texts and masks that at least SHARED_BY of an article's neighbours have."""

    texts: frozenset[int] = frozenset()
    masks: frozenset[int] = frozenset()

    @classmethod
    def among(cls, neighbours: Iterable[Fingerprints]) -> Boilerplate:
        """What these neighbours (an article's NEIGHBOURS before it) share."""
        texts: Counter[int] = Counter()
        masks: Counter[int] = Counter()
        for fp in neighbours:
            texts.update(fp.texts)
            masks.update(fp.masks)
        return cls(
            frozenset(h for h, n in texts.items() if n >= SHARED_BY),
            frozenset(h for h, n in masks.items() if n >= SHARED_BY),
        )

    def key(self) -> str:
        """A short digest of what this holds: a cached summary made against other boilerplate is stale."""
        if not self.texts and not self.masks:
            return ""
        return hashlib.blake2b(Fingerprints(self.texts, self.masks).encode(), digest_size=12).hexdigest()

    def is_boilerplate_text(self, text: str) -> bool:
        """A TL;DR candidate all of whose sentences the neighbours repeat, word for word (§7)."""
        if not self.texts:
            return False
        sentences = split_sentences(text)
        return bool(sentences) and all(
            len(sentence_mask(s)) >= MASK_MIN and _hash(sentence_text(s)) in self.texts for s in sentences
        )

    def is_template_sentence(self, sentence: str) -> bool:
        """A key figure's sentence whose mask the neighbours repeat: a template line, only its number changes (§7)."""
        if not self.masks:
            return False
        mask = sentence_mask(sentence)
        return len(mask) >= MASK_MIN and _hash(mask) in self.masks


NO_BOILERPLATE = Boilerplate()


def neighbours_before(order: Sequence[str], index: int, count: int = NEIGHBOURS) -> Sequence[str]:
    """The `count` items just before `index` in an order sorted by (date, path): an article's neighbours."""
    return order[max(index - count, 0) : index]
