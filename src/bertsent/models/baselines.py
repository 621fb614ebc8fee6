"""The traditional baselines: bag-of-words and n-gram linear models from scikit-learn.

Each one is a vectorizer and a linear classifier whose regularisation strength ``C`` is
chosen on the dev set. A fitted pipeline is saved as JSON and safetensors (see
:mod:`bertsent.models.linear_state`): loading rebuilds allow-listed classes around plain
arrays, so a model directory never runs code, and nothing is unpickled.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.svm import LinearSVC

from bertsent.data.tasks import MultiLabelTask, is_multi_label
from bertsent.errors import ConfigError, DataError, ModelError
from bertsent.models.base import (
    SentimentClassifier,
    require_fitted,
    train_and_dev,
)
from bertsent.models.linear_state import SPEC_FILE, load_pipeline, save_pipeline
from bertsent.models.nbsvm import NBSVM
from bertsent.models.one_vs_rest import OneVsRestLogistic

LEGACY_PIPELINE_FILE = "pipeline.skops"  # how bertsent 0.1 saved them, before pipeline.json
CALIBRATION_FOLDS = 5


class LinearBaseline(SentimentClassifier):
    """A text vectorizer and a linear classifier whose ``C`` is chosen on dev accuracy.

    Args:
        C: Fix the regularisation strength instead of searching ``c_grid`` on dev.
        seed: Seed for the solvers and for carving a dev set when none is given.
    """

    method: ClassVar[str]
    description: ClassVar[str]
    c_grid: ClassVar[tuple[float, ...]] = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
    min_per_class: ClassVar[int] = 1  # training examples each class needs
    fitted_attribute = "pipeline_"

    def __init__(self, *, C: float | None = None, seed: int = 42) -> None:
        self.C = C
        self.seed = seed

    def _vectorizer(self) -> CountVectorizer:
        raise NotImplementedError

    def _classifier(self, C: float) -> BaseEstimator:
        raise NotImplementedError

    def _final_classifier(self, C: float) -> BaseEstimator:
        """The classifier that is kept; subclasses add probability calibration here."""
        return self._classifier(C)

    def _multi_label_classifier(self, C: float) -> BaseEstimator:
        """The classifier for ``joy;surprise`` labels; only some methods have one."""
        raise ConfigError(
            f"{self.method} gives one label per review; this data has several",
            hint="use tfidf-lr (one logistic regression per label) or bert",
        )

    def fit(
        self,
        texts: Sequence[str],
        labels: Sequence[str],
        *,
        eval_texts: Sequence[str] | None = None,
        eval_labels: Sequence[str] | None = None,
    ) -> Self:
        """Vectorize once, try each ``C`` on dev, refit the best with probabilities."""
        started = time.perf_counter()
        train, dev = train_and_dev(texts, labels, eval_texts, eval_labels, self.seed)
        multi_label = is_multi_label(train.labels)
        make, make_final = self._classifier, self._final_classifier
        if multi_label:
            make = make_final = self._multi_label_classifier
        else:
            self._check_class_sizes(train.labels)
        vectorizer = self._vectorizer()
        features = vectorizer.fit_transform(train.texts)  # (n_train, vocabulary) sparse
        dev_features = vectorizer.transform(dev.texts)
        dev_labels = np.asarray(dev.labels)

        # 1. model selection: dev accuracy for each C (ties go to the stronger regulariser)
        self.history_ = []
        for C in [self.C] if self.C is not None else self.c_grid:
            candidate = make(C).fit(features, train.labels)
            if multi_label:  # every label right, whatever order a gold cell names them in
                task = MultiLabelTask(list(candidate.classes_))
                correct = task.correct(candidate.predict_proba(dev_features), dev.labels)
            else:
                correct = candidate.predict(dev_features) == dev_labels
            accuracy = float(np.mean(correct))
            self.history_.append({"C": C, "dev_accuracy": round(accuracy, 4)})
        best = max(self.history_, key=lambda entry: entry["dev_accuracy"])

        # 2. the kept model: the best C, with probabilities
        classifier = make_final(best["C"]).fit(features, train.labels)
        self.pipeline_ = Pipeline([("features", vectorizer), ("classifier", classifier)])
        self.labels_ = [str(label) for label in classifier.classes_]
        # multi-label: thresholds 0.5 until tuned on dev (see bertsent.pipeline.train)
        self._fitted_task(MultiLabelTask(self.labels_) if multi_label else None)
        self.best_ = dict(best)
        self._remember_training_texts(texts)
        self._record_fit(time.perf_counter() - started, len(train))
        return self

    def _check_class_sizes(self, labels: Sequence[str]) -> None:
        """Refuse, by name, a class too small for this method (e.g. for 5-fold calibration)."""
        label, count = min(Counter(labels).items(), key=lambda item: item[1])
        if count < self.min_per_class:
            raise DataError(
                f"{self.method} calibrates its probabilities on {CALIBRATION_FOLDS} folds of "
                f"train, so each class needs at least {self.min_per_class} training examples; "
                f"'{label}' has {count}",
                hint="add examples of that class, or use tfidf-lr",
            )

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        require_fitted(self)
        if len(texts) == 0:
            return np.zeros((0, len(self.labels_)))
        return np.asarray(self.pipeline_.predict_proba(list(texts)))

    def count_parameters(self) -> int:
        """Weights and biases of the linear model(s), plus calibration parameters."""
        require_fitted(self)
        classifier = self.pipeline_.named_steps["classifier"]
        if isinstance(classifier, CalibratedClassifierCV):
            total = 0
            for calibrated in classifier.calibrated_classifiers_:
                total += _linear_size(calibrated.estimator)
                total += 2 * len(calibrated.calibrators)  # sigmoid slope and offset
            return total
        return _linear_size(classifier)

    def _write_model(self, folder: Path) -> None:
        """The pipeline as JSON and safetensors (see :mod:`bertsent.models.linear_state`)."""
        save_pipeline(self.pipeline_, folder)

    @classmethod
    def _from_saved(cls, path: Path, metadata: dict[str, Any], **options: Any) -> Self:
        """Rebuild the pipeline from allow-listed classes and plain arrays; nothing is unpickled."""
        if (path / LEGACY_PIPELINE_FILE).is_file() and not (path / SPEC_FILE).is_file():
            raise ModelError(
                f"{path}: saved by an earlier bertsent ({LEGACY_PIPELINE_FILE})",
                hint="train it again with this version",
            )
        classifier = cls(**metadata.get("params", {}))
        classifier.pipeline_ = load_pipeline(path)
        classes = classifier.pipeline_.named_steps["classifier"].classes_
        classifier.labels_ = [str(label) for label in classes]
        return classifier


def _linear_size(estimator: Any) -> int:
    return int(estimator.coef_.size + np.size(estimator.intercept_))


class BowSvmClassifier(LinearBaseline):
    """Binary unigram counts and a linear SVM, with Platt-scaled probabilities.

    >>> BowSvmClassifier().fit(["a gem", "a mess"] * 8, ["pos", "neg"] * 8)  # doctest: +SKIP
    """

    method = "bow-svm"
    description = "BOW + SVM"
    min_per_class = CALIBRATION_FOLDS

    def _vectorizer(self) -> CountVectorizer:
        return CountVectorizer(binary=True)

    def _classifier(self, C: float) -> BaseEstimator:
        return LinearSVC(C=C, max_iter=5000, random_state=self.seed)

    def _final_classifier(self, C: float) -> BaseEstimator:
        # Sigmoid calibration on 5-fold out-of-fold scores; one SVM refitted on all of train.
        return CalibratedClassifierCV(self._classifier(C), cv=CALIBRATION_FOLDS, ensemble=False)


class TfidfLrClassifier(LinearBaseline):
    """TF-IDF over unigrams and bigrams and a logistic regression.

    >>> TfidfLrClassifier().fit(["a gem", "a mess"] * 8, ["pos", "neg"] * 8)  # doctest: +SKIP
    """

    method = "tfidf-lr"
    takes_multi_label = True  # one logistic regression per label
    description = "TF-IDF + LR"
    c_grid = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)

    def _vectorizer(self) -> CountVectorizer:
        return TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)

    def _classifier(self, C: float) -> BaseEstimator:
        return LogisticRegression(C=C, max_iter=2000, random_state=self.seed)

    def _multi_label_classifier(self, C: float) -> BaseEstimator:
        return OneVsRestLogistic(C=C, max_iter=2000, random_state=self.seed)


class NbSvmClassifier(LinearBaseline):
    """NB-SVM over binary unigrams and bigrams, with Platt-scaled probabilities.

    >>> NbSvmClassifier().fit(["a gem", "a mess"] * 8, ["pos", "neg"] * 8)  # doctest: +SKIP
    """

    method = "nbsvm"
    description = "NB-SVM"
    min_per_class = CALIBRATION_FOLDS

    def _vectorizer(self) -> CountVectorizer:
        return CountVectorizer(binary=True, ngram_range=(1, 2))

    def _classifier(self, C: float) -> BaseEstimator:
        return NBSVM(C=C, random_state=self.seed)

    def _final_classifier(self, C: float) -> BaseEstimator:
        return CalibratedClassifierCV(self._classifier(C), cv=CALIBRATION_FOLDS, ensemble=False)
