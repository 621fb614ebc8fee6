"""The seed's puzzle sentences: where bag-of-words models fail and context matters."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bertsent.models.base import SentimentClassifier

PUZZLES: list[tuple[str, str]] = [
    ("Great, another boring superhero movie", "sarcasm: positive word, negative meaning"),
    ("This is not a bad film", "negation: negated negative word"),
    ("Absolutely incredible", "intensity: strong positive"),
    ("Somewhat good", "intensity: mild positive"),
]


def score_puzzles(
    model: SentimentClassifier, puzzles: Sequence[tuple[str, str]] = PUZZLES
) -> list[dict[str, Any]]:
    """Predicted label and confidence for each puzzle sentence."""
    scored = model.predict_scores([text for text, _ in puzzles])
    return [
        {"text": text, "phenomenon": phenomenon, **result}
        for (text, phenomenon), result in zip(puzzles, scored, strict=True)
    ]
