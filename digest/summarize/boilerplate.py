"""Boilerplate: what a site repeats in its articles, and so says nothing about one of them (spec §7).

An article's sentences (those of its `summary`, its `description` and its body's paragraphs,
quotes and list items) are kept as fingerprints: 8-byte hashes of each sentence's text
(whitespace collapsed, case-folded) and of its *mask* (digits runs as `#`, whitespace, `*` and
`_` removed, case-folded). The pipeline gathers the fingerprints of an article's 30 neighbours
and hands the summarizer a `Boilerplate` (`Boilerplate.among` them, or `plates_for` an issue's
articles at once): the texts and masks at least 2 of them share. The summarizer never reads
another file.

Also here: the reading-time and length lines (`本文 1024 字，阅读 3 分钟。`, `5 min read`), which
sites repeat in every article and which are never a TL;DR nor a key figure's sentence (§4, §5).
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any, TypeVar

from digest.summarize.figures import states_reading_time
from digest.summarize.parsing import MD, simple_inline
from digest.summarize.plaintext import Block, Parsed, collapse, inline_text, parse_body, strip_templates

SHARED_BY = 2  # a sentence is boilerplate when at least this many neighbours have it
MASK_MIN = 8  # sentences whose mask is shorter never count
SENTENCE_ENDS = "。！？；!?"  # and a `.` followed by a space (§5's sentence ends)
K = TypeVar("K")

_DIGITS = re.compile(r"[0-9０-９]+")
_HASH_BYTES = 8
# A sentence: anything but an end, then its end if it has one. An end is one of SENTENCE_ENDS, or a `.`
# before a space (digest.text.is_sentence_end); findall's pieces, stripped, are the sentences.
_SENTENCE = re.compile(f"[^{re.escape(SENTENCE_ENDS)}.]*(?:\\.(?! )[^{re.escape(SENTENCE_ENDS)}.]*)*"
                       f"(?:[{re.escape(SENTENCE_ENDS)}]|\\.(?= ))?")


def is_reading_time_line(text: str) -> bool:
    """Whether every sentence of a text states a reading time or a length: never a TL;DR (§4)."""
    sentences = split_sentences(text)
    return bool(sentences) and all(states_reading_time(s) for s in sentences)


# --- sentences, texts and masks -------------------------------------------------------------------


def split_sentences(text: str) -> list[str]:
    """A plain text's sentences, each with its end mark, stripped; sentence ends as in §5."""
    return [piece for piece in map(str.strip, _SENTENCE.findall(text)) if piece]


def sentence_text(sentence: str) -> str:
    """What two sentences share when they are the same text: whitespace collapsed, case-folded."""
    return " ".join(sentence.casefold().split())  # str.split's whitespace is the regex's \s, and faster


def sentence_mask(sentence: str) -> str:
    """A sentence's mask: every run of digits `#`, whitespace, `*` and `_` removed, case-folded."""
    return _folded_mask(sentence.casefold())


# Case-folding first is the same: no character folds to or from a digit, whitespace, `*` or `_`
# (tests/summarize/test_boilerplate.py checks every code point), and a sentence is folded once.
def _folded_mask(folded: str) -> str:
    # str.split drops the regex's \s; `*` and `_` are rare enough to look for first.
    mask = "".join(_DIGITS.sub("#", folded).split())
    return mask.replace("*", "").replace("_", "") if "*" in mask or "_" in mask else mask


# Module names, not attribute look-ups: an article's fingerprints are a hundred hashes.
_BLAKE2B = hashlib.blake2b
_FROM_BYTES = int.from_bytes


def _hash(text: str) -> int:
    return _FROM_BYTES(_BLAKE2B(text.encode(), digest_size=_HASH_BYTES).digest(), "big")


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
    for sentence in set(sentences):
        folded = sentence.casefold()
        mask = _folded_mask(folded)
        if len(mask) < MASK_MIN:
            continue
        texts.add(" ".join(folded.split()))  # sentence_text
        masks.add(mask)
    return Fingerprints(frozenset(map(_hash, texts)), frozenset(map(_hash, masks)))


def front_matter_text(value: Any) -> str:
    """A front matter string (tldr, summary, description) as plain text; '' for anything else."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return ""
    markdown, _ = strip_templates(str(value))
    try:
        # Inline parsing only: a summary that starts "1." or "#" is not a list or a heading. Most are
        # simple: their one inline token's children, made without MD.parseInline's set-up (13 µs).
        made = simple_inline(markdown, MD, {}) if "\r" not in markdown and "\0" not in markdown else None
        if made is None:
            tokens = MD.parseInline(markdown)
    except Exception:
        return collapse(markdown)
    if made is not None:
        return inline_text(made)
    return " ".join(inline_text(t.children) for t in tokens if t.type == "inline").strip()


def compared_texts(blocks: Sequence[Block], front_matter: Mapping[Any, Any]) -> list[str]:
    """The texts whose sentences §7 compares: `summary`, `description` and the body's paragraphs, quotes,
    items (`blocks`: `Parsed.blocks`)."""
    texts = [front_matter_text(front_matter.get(key)) for key in ("summary", "description")]
    return texts + [block.flat for block in blocks if block.kind == "paragraph"]


def article_fingerprints(body: str | Parsed, front_matter: object) -> Fingerprints:
    """The fingerprints of one article, from its body (or the same parsed, `parse_body`) and front matter;
    never raises."""
    fm: Mapping[Any, Any] = front_matter if isinstance(front_matter, Mapping) else {}
    parsed = body if isinstance(body, Parsed) else parse_body(body)
    if not parsed.ok:
        return Fingerprints()
    try:
        return fingerprints_of(chain.from_iterable(map(split_sentences, compared_texts(parsed.blocks, fm))))
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
        """What these neighbours (the articles dated just before an article, digest.summarize.neighbours) share."""
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


class _Tally:
    """Hashes counted over a window of neighbours, and those at least SHARED_BY of them have, as neighbours
    come and go."""

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}
        self.shared: set[int] = set()

    def add(self, hashes: Iterable[int]) -> None:
        counts = self.counts
        for h in hashes:
            n = counts[h] = counts.get(h, 0) + 1
            if n == SHARED_BY:
                self.shared.add(h)

    def drop(self, hashes: Iterable[int]) -> None:
        counts = self.counts
        for h in hashes:
            n = counts[h] - 1
            if n:
                counts[h] = n
            else:
                del counts[h]
            if n == SHARED_BY - 1:
                self.shared.discard(h)


def plates_for(windows: Mapping[K, Sequence[str]], fingerprints: Mapping[str, Fingerprints]) -> dict[K, Boilerplate]:
    """{key: `Boilerplate.among` the fingerprints of its window's paths (those in `fingerprints`)}.

    A window is an article's neighbours. One tally goes from window to window, counting in the
    neighbours that come and out those that go: windows in date order (either way) differ by a
    neighbour or two, so each plate costs two fingerprints instead of thirty.
    """
    texts, masks = _Tally(), _Tally()
    current: set[str] = set()
    plates: dict[K, Boilerplate] = {}
    for key, window in windows.items():
        present = [path for path in window if path in fingerprints]
        paths = set(present)
        if len(paths) < len(present):  # a path twice counts twice
            plates[key] = Boilerplate.among(fingerprints[path] for path in present)
            continue
        for path in current - paths:
            texts.drop(fingerprints[path].texts)
            masks.drop(fingerprints[path].masks)
        for path in paths - current:
            texts.add(fingerprints[path].texts)
            masks.add(fingerprints[path].masks)
        current = paths
        plates[key] = Boilerplate(frozenset(texts.shared), frozenset(masks.shared))
    return plates
