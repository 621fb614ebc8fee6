"""Maps of [CLS] vectors before and after fine-tuning, with a number for the separation.

The fine-tuned model's head reads the final [CLS] vector; the same vector from the
pre-trained encoder shows where training started. Both are projected to 2-D (t-SNE and
PCA) from one sample of reviews plus, for a model the behaviour suite applies to (one
positive and one negative side, one label per review), its sarcasm and negation cases,
and measured in their full dimension: cosine silhouette of the gold classes and the
5-fold accuracy of a linear probe.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bertsent.atomic import check_files_in_folder, written_by
from bertsent.data.splits import Split
from bertsent.encoders.engine import TorchEngine
from bertsent.encoders.pretrained import keep_layers, load_encoder
from bertsent.errors import ConfigError, DataError
from bertsent.evaluation.behaviour import generate_suite, polarity_columns, suite_applies
from bertsent.explain.tokens import require_encoder
from bertsent.models.base import SentimentClassifier

MARKED_CATEGORIES = ("sarcasm", "negation")
STAGES = ("before", "after")
PROBE_FOLDS = 5  # the linear probe's cross-validation
# what `bertsent embed-map` writes into its folder, by kind; the JSON marks it as ours
MAP_FILES = {
    "figure": "embedding_map.png",
    "interactive": "embedding_map.html",
    "json": "embedding_map.json",
}


def check_map_outputs(folder: Path, *, overwrite: bool = False) -> bool:
    """Refuse to write the map into ``folder`` over files ``embed-map`` did not write.

    A folder whose ``embedding_map.json`` starts ``{"bertsent": "embed-map"`` holds an
    earlier map: its :data:`MAP_FILES` are replaced. Otherwise any of them that exists
    is refused unless ``overwrite``. Nothing else in ``folder`` is touched.

    Returns:
        Whether the files may replace what is at their paths.

    Raises:
        OutputExistsError: ``folder`` is a file, or naming the first file in the way.
    """
    folder = Path(folder)
    ours = overwrite or written_by(folder / MAP_FILES["json"], "embed-map")
    check_files_in_folder(folder, list(MAP_FILES.values()), "bertsent embed-map", replaceable=ours)
    return ours


@dataclass
class EmbeddingMap:
    """Projected [CLS] vectors of the same texts before and after fine-tuning.

    ``kinds[i]`` is "review" for a sampled review, else the behaviour category;
    ``stages[stage]`` holds "tsne" and "pca" (n, 2) arrays, "silhouette" and "probe_accuracy"
    (computed on the reviews only, in the full dimension).
    """

    texts: list[str]
    gold: list[str]
    predicted: list[str]
    kinds: list[str]
    stages: dict[str, dict[str, Any]]
    split: str
    source_model: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "split": self.split,
            "source_model": self.source_model,
            "points": [
                {"text": t, "gold": g, "predicted": p, "kind": k}
                for t, g, p, k in zip(
                    self.texts, self.gold, self.predicted, self.kinds, strict=True
                )
            ],
            "stages": {
                stage: {
                    key: value.round(4).tolist() if isinstance(value, np.ndarray) else value
                    for key, value in values.items()
                }
                for stage, values in self.stages.items()
            },
        }


def behaviour_cases(labels: Sequence[str], per_test: int, seed: int) -> list[tuple[str, str, str]]:
    """(text, expected label, category) for the suite's sarcasm and negation checks."""
    positive, negative = polarity_columns(labels)
    label_of = {"positive": labels[positive[0]], "negative": labels[negative[0]]}
    return [
        (case.texts[0], label_of[case.expect], test.category)
        for test in generate_suite(per_test=per_test, seed=seed)
        if test.category in MARKED_CATEGORIES and test.kind == "mft"
        for case in test.cases
        if case.expect in label_of
    ]


def cls_vectors(encoder: Any, classifier: SentimentClassifier, texts: list[str]) -> np.ndarray:
    """(n, hidden) final-layer [CLS] vectors of ``encoder`` with the classifier's tokenizer."""
    config = classifier.training_recipe()  # type: ignore[attr-defined]
    engine = TorchEngine(
        encoder,
        classifier.tokenizer_,  # type: ignore[attr-defined]
        max_length=config.max_length,
        truncation=config.truncation,
    )
    return engine.map_batches(texts, lambda output: output.last_hidden_state[:, 0])


def separation(vectors: np.ndarray, labels: Sequence[str], seed: int) -> dict[str, float]:
    """How well the gold classes separate: cosine silhouette and linear-probe accuracy.

    The probe's regularisation is chosen by an inner cross-validation: with a few
    hundred dimensions and a thousand reviews an unregularised probe overfits and
    understates the separation by several points.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import silhouette_score
    from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    regularised = GridSearchCV(
        LogisticRegression(max_iter=2000), {"C": np.logspace(-3, 1, 5).tolist()}, cv=3
    )
    probe = make_pipeline(StandardScaler(), regularised)
    folds = StratifiedKFold(n_splits=PROBE_FOLDS, shuffle=True, random_state=seed)
    return {
        "silhouette": float(silhouette_score(vectors, labels, metric="cosine")),
        "probe_accuracy": float(cross_val_score(probe, vectors, labels, cv=folds).mean()),
    }


def check_probe_sample(gold: Sequence[str], split: Split) -> None:
    """Refuse, before minutes of embedding, a sample the linear probe cannot score: its
    folds need two classes with a review in each fold (rarer classes only get a warning).

    Raises:
        DataError: naming the sample's class counts and the split's size.
    """
    counts = Counter(gold)
    if sum(count >= PROBE_FOLDS for count in counts.values()) >= 2:
        return
    found = ", ".join(f"{count} '{label}'" for label, count in counts.most_common())
    raise DataError(
        f"the sample of {len(gold)} reviews of the {split.name} split has {found or 'none'}; "
        f"the linear probe's {PROBE_FOLDS} folds need {PROBE_FOLDS} or more reviews in each "
        "of 2 classes",
        hint=f"raise --sample (the {split.name} split has {len(split.texts)} reviews), or map "
        "a larger --split"
        if len(gold) < len(split.texts)
        else f"the sample is the whole {split.name} split: map a larger one",
    )


def project(vectors: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """2-D t-SNE and PCA coordinates, deterministic for a given seed."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    standardized = vectors - vectors.mean(axis=0)
    perplexity = min(30.0, (len(vectors) - 1) / 3)
    tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed)
    return {
        "tsne": tsne.fit_transform(standardized),
        "pca": PCA(n_components=2, random_state=seed).fit_transform(standardized),
    }


def embedding_map(
    classifier: SentimentClassifier,
    split: Split,
    *,
    sample: int = 2000,
    behaviour_per_test: int = 15,
    seed: int = 0,
) -> EmbeddingMap:
    """Embed ``sample`` reviews of ``split`` (and the suite's cases, where the suite
    applies to the model) before and after fine-tuning.

    Raises:
        ConfigError: ``sample`` is below 1.
        DataError: the split or the sample is too small to measure the separation.
    """
    model = require_encoder(classifier)  # aspect models too: their pairs are embedded
    if sample < 1:
        raise ConfigError(f"--sample {sample}: must be at least 1", hint="give a count of reviews")
    if len(set(split.labels)) < 2 or len(split.texts) < 10:
        raise DataError(
            f"the {split.name} split has {len(split.texts)} reviews in "
            f"{len(set(split.labels))} classes; an embedding map needs 10 or more in 2 classes"
        )
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.permutation(len(split.texts))[:sample])
    texts = [split.texts[i] for i in rows]
    # 'surprise;joy' in the file is the 'joy;surprise' a multi-label model predicts
    gold = [classifier.task_.canonical(split.labels[i]) for i in rows]
    check_probe_sample(gold, split)
    kinds = ["review"] * len(texts)
    # sarcasm and negation cases expect a positive or negative label, one per review:
    # emotions, other label sets and aspect pairs are mapped from their reviews alone
    if suite_applies(classifier):
        for text, expected, category in behaviour_cases(
            classifier.labels_, behaviour_per_test, seed
        ):
            texts.append(text)
            gold.append(expected)
            kinds.append(category)
    reviews = np.array(kinds) == "review"
    config = classifier.training_recipe()  # type: ignore[attr-defined]
    # where fine-tuning started: the checkpoint, cut to the student's layers if it was
    before = load_encoder(config.model)
    if config.encoder_layers:
        before = keep_layers(before, config.encoder_layers)
    encoders = {"before": before.eval(), "after": model.base_model}
    stages: dict[str, dict[str, Any]] = {}
    for stage in STAGES:
        vectors = cls_vectors(encoders[stage], classifier, texts)
        stages[stage] = {
            **project(vectors, seed),
            **separation(
                vectors[reviews], [g for g, r in zip(gold, reviews, strict=True) if r], seed
            ),
        }
    return EmbeddingMap(
        texts=texts,
        gold=gold,
        predicted=classifier.predict(texts),
        kinds=kinds,
        stages=stages,
        split=split.name,
        source_model=config.model,
    )
