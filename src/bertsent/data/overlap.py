"""Keep one corpus's evaluation sentences out of another corpus's training phrases.

SST is parsed from the same critic snippets as Rotten Tomatoes and MR, and its training
set holds every labelled phrase of its parse trees: a model trained on SST phrases has
seen pieces of (and often whole) Rotten Tomatoes dev and test snippets. Before such
phrases train a model that is scored on Rotten Tomatoes, every phrase that is a span of
a protected snippet, or contains one, is removed; so is a phrase of 20 letters or more
whose letters (and digits) occur inside a protected snippet's.

Spans are compared on words after undoing the two corpora's tokenisations ("does n't"
and "doesn't", "it 's" and "It's", "-lrb-" and "("), so the check does not depend on
case, spacing or punctuation; an aspect pair is compared by its sentence, whatever the
aspect. Whole texts are also compared on their letters and digits
alone, the form the saved training-text hashes use: the Rotten Tomatoes scrape lost
dashes between words ("the charmyeah, baby"), which SST's parse kept apart.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bertsent.data.splits import (
    NOT_ALPHANUMERIC,
    DatasetSplits,
    Split,
    fold_text,
    normalise_text,
)
from bertsent.data.tasks import split_aspect

_SPLIT_CONTRACTION = re.compile(r"\s+(n't|'s|'re|'ve|'d|'ll|'m)\b")  # PTB: "does n't"
# a phrase that starts with a clitic starts inside a word ("'s an exhilarating place",
# cut from "it's an ..."): the clitic is the tail of a word the phrase does not hold
_LEADING_CLITIC = re.compile(r"^\s*(n't|'s|'re|'ve|'d|'ll|'m)\b")
_SPLIT_WORDS = re.compile(r"\b(can not|gon na|wan na|got ta)\b")  # PTB splits these too
_APOSTROPHES = re.compile(r"['’`]")
# a phrase this long whose letters occur in a protected text overlaps it, whatever its
# words: the Rotten Tomatoes scrape glued words together ("Holmthe", "screenHis")
LETTERS_INSIDE = 20


def span_words(text: str) -> tuple[str, ...]:
    """The words of ``text`` as both corpora agree on them.

    >>> span_words("it does n't -LRB- quite -RRB- work .") == span_words("It doesn't (quite) work.")
    True
    >>> span_words("'s so sloppily written that you can not believe")[:2]
    ('so', 'sloppily')
    """
    folded = _APOSTROPHES.sub("'", fold_text(split_aspect(text)[0]))
    folded = _SPLIT_CONTRACTION.sub(r"\1", _LEADING_CLITIC.sub("", folded))
    folded = _SPLIT_WORDS.sub(lambda found: found.group(0).replace(" ", ""), folded)
    return tuple(word for word in NOT_ALPHANUMERIC.split(folded.replace("'", "")) if word)


def _spans(words: tuple[str, ...]) -> Iterable[str]:
    """Every contiguous run of ``words``, joined by spaces."""
    for start in range(len(words)):
        for end in range(start + 1, len(words) + 1):
            yield " ".join(words[start:end])


@dataclass(frozen=True)
class SpanFilter:
    """Tells whether a text shares a span with any protected text (in either direction)."""

    protected_spans: frozenset[str]  # every span of every protected text
    protected_texts: frozenset[str]  # the protected texts themselves, whole
    protected_letters: frozenset[str]  # and as letters and digits only
    joined_letters: str  # those, "|"-joined: a long phrase's letters are searched in it

    @classmethod
    def of(cls, protected: Iterable[str]) -> SpanFilter:
        originals = list(protected)
        texts = [span_words(text) for text in originals]
        spans = frozenset(span for words in texts for span in _spans(words))
        whole = frozenset(" ".join(words) for words in texts if words)
        letters = frozenset(normalise_text(split_aspect(text)[0]) for text in originals) - {""}
        return cls(spans, whole, letters, "|".join(sorted(letters)))

    def overlaps(self, text: str) -> bool:
        """``text`` is a span of a protected text, holds one whole, or equals one."""
        words = span_words(text)
        if not words:
            return False
        letters = normalise_text(split_aspect(text)[0])
        if " ".join(words) in self.protected_spans or letters in self.protected_letters:
            return True
        if len(letters) >= LETTERS_INSIDE and letters in self.joined_letters:
            return True
        return any(span in self.protected_texts for span in _spans(words))


def without_overlap(
    splits: DatasetSplits, protected: Sequence[str] | SpanFilter, source: str
) -> tuple[DatasetSplits, dict[str, int]]:
    """``splits`` with every example sharing a span with ``protected`` (texts, or their
    filter when the caller checks more against it) removed.

    Train and dev (used to pick the best epoch) are both filtered; a test split is
    kept as it is. Returns the filtered splits and how many examples each split lost.
    """
    check = protected if isinstance(protected, SpanFilter) else SpanFilter.of(protected)

    def keep(split: Split) -> tuple[Split, int]:
        kept = [i for i, text in enumerate(split.texts) if not check.overlaps(text)]
        return split.subset(kept), len(split.texts) - len(kept)

    train, removed_train = keep(splits.train)
    dev, removed_dev = keep(splits.dev)
    note = (
        f"removed {removed_train} train and {removed_dev} dev examples that share a span "
        f"with {source}'s evaluation texts"
    )
    filtered = DatasetSplits(
        splits.name, train=train, dev=dev, test=splits.test, notes=[*splits.notes, note]
    )
    return filtered, {"train": removed_train, "dev": removed_dev}
