"""One review explained: attention, integrated gradients and their faithfulness side by side."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bertsent.atomic import check_files_in_folder, written_by
from bertsent.errors import OutputExistsError
from bertsent.explain.attention import AttentionMaps, attention_maps
from bertsent.explain.attributions import Attribution, faithfulness, integrated_gradients
from bertsent.explain.tokens import require_text
from bertsent.models.base import SentimentClassifier


@dataclass
class Explanation:
    """Attention maps and (unless left out) IG attributions of one review, with the
    faithfulness numbers of each ranking."""

    attention: AttentionMaps
    attribution: Attribution | None
    label: str
    probability: float
    faithfulness: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        if self.attribution is not None:
            own = self.attribution.to_dict()
        else:
            own = {"text": self.attention.encoded.text, "label": self.label,
                   "probability": self.probability, "words": self.attention.encoded.words,
                   "faithfulness": self.faithfulness}  # fmt: skip
        return {**own, "attention_rollout": self.attention.cls_rollout().tolist()}


def explain_text(
    classifier: SentimentClassifier, text: str, *, steps: int = 50, attributions: bool = True
) -> Explanation:
    """Attention maps and IG attributions of ``text``, and how faithful each ranking is.

    The faithfulness check deletes the words each method ranks highest (IG scores toward
    the prediction; the [CLS] row of the attention rollout) against random words.
    ``attributions=False`` leaves integrated gradients out (and with them Captum, and
    their backward passes): attention alone, toward the predicted class.

    Raises:
        DataError: ``text`` is empty or only whitespace.
    """
    require_text(text)
    attention = attention_maps(classifier, text)
    rankings = {"attention rollout": attention.cls_rollout()}
    attribution = None
    if attributions:
        attribution = integrated_gradients(classifier, text, steps=steps)
        rankings = {"integrated gradients": attribution.scores, **rankings}
        target, probability = classifier.labels_.index(attribution.label), attribution.probability
    else:  # the predicted class (a multi-label model's most probable label), as IG targets
        probabilities = classifier.predict_proba([text])[0]
        target = int(probabilities.argmax())
        probability = float(probabilities[target])
    checked = faithfulness(classifier, attention.encoded, target, rankings)
    if attribution is not None:
        attribution.faithfulness = checked
    return Explanation(attention, attribution, classifier.labels_[target], probability, checked)


def file_stem(text: str, limit: int = 40) -> str:
    """A file-name-safe stem from a review: 'this-movie-was-not-very-good'.

    Letters and digits of any script are kept ('фильм-ужасен'), so reviews in Cyrillic
    or Chinese get names of their own rather than all sharing one.
    """
    return re.sub(r"[\W_]+", "-", text.lower()).strip("-")[:limit].rstrip("-") or "review"


def explanation_files(
    text: str, *, image_format: str = "png", attention: bool = True, attributions: bool = True
) -> dict[str, str]:
    """The names of the files one explanation of ``text`` is written to, by kind."""
    stem = file_stem(text)
    names = {"json": f"{stem}.json"}
    if attention:
        names["attention"] = f"{stem}-attention.{image_format}"
    if attributions:
        names["attributions"] = f"{stem}-attributions.{image_format}"
    return names


def check_explanation_outputs(
    folder: Path, names: Iterable[str], json_name: str, text: str, *, overwrite: bool = False
) -> bool:
    """Refuse to write an explanation over files ``explain`` did not write for ``text``.

    The explanation of one text is its JSON (first key ``"bertsent": "explain"``) and
    its figures, all named after the text: when that JSON is ours and explains the
    same text, so are the figures beside it, and all of them are replaced. Otherwise
    any of ``names`` that exists in ``folder`` is refused unless ``overwrite``. Other
    files in ``folder`` (explanations of other texts, even one whose name this text
    shares, as "Great!" and "great?" do; anything of the user's) are never touched.

    Returns:
        Whether the files may replace what is at their paths.

    Raises:
        OutputExistsError: ``folder`` is a file, or naming the first file in the way.
    """
    record = Path(folder) / json_name
    explained = _explained_text(record) if written_by(record, "explain") else None
    if explained is not None and explained != text and not overwrite:
        raise OutputExistsError(
            f"{record} holds the explanation of another text ({explained[:60]!r}), whose "
            "file names this text shares",
            hint="write this one elsewhere with --output DIR (--overwrite would replace "
            "the other text's explanation)",
        )
    ours = overwrite or explained == text
    check_files_in_folder(Path(folder), list(names), "bertsent explain", replaceable=ours)
    return ours


def _explained_text(record: Path) -> str | None:
    try:
        text = json.loads(record.read_text(encoding="utf-8")).get("text")
    except (OSError, ValueError, AttributeError):
        return None
    return text if isinstance(text, str) else None


def write_explanation(
    explanation: Explanation,
    output_dir: Path,
    *,
    image_format: str = "png",
    layer: int = -1,
    head: int = 0,
    attention: bool = True,
    attributions: bool = True,
    overwrite: bool = True,
) -> dict[str, Path]:
    """Write the chosen figures for one explanation; returns their paths by name.

    ``overwrite=False`` refuses, at the rename, a file already at a figure's path.
    """
    from bertsent.explain.figures import plot_attention, plot_attributions

    names = explanation_files(
        explanation.attention.encoded.text,
        image_format=image_format,
        attention=attention,
        attributions=attributions,
    )
    paths: dict[str, Path] = {}
    if attention:
        paths["attention"] = plot_attention(
            explanation.attention, output_dir / names["attention"], layer, head, overwrite=overwrite
        )
    if attributions:
        if explanation.attribution is None:
            raise ValueError("this explanation was made without attributions")
        paths["attributions"] = plot_attributions(
            explanation.attribution, output_dir / names["attributions"], overwrite=overwrite
        )
    return paths
