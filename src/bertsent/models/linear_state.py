"""Save and rebuild the baselines' fitted pipelines as JSON and safetensors, nothing else.

A baseline is a vectorizer and a linear model, so its fitted state is a vocabulary, a
few arrays and constructor parameters. Written as ``pipeline.json`` (classes from an
allow-list, parameters, array names), ``pipeline.safetensors`` (the arrays) and
``vocabulary.json`` (terms in column order), it loads without running code from the
folder, like skops, and in a fraction of the time: importing skops imports every
scikit-learn estimator (and torch through scikit-learn's array API support).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.calibration import CalibratedClassifierCV, _CalibratedClassifier, _SigmoidCalibration
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.svm import LinearSVC

from bertsent.errors import ModelError
from bertsent.models.nbsvm import NBSVM
from bertsent.models.one_vs_rest import OneVsRestLogistic

SPEC_FILE = "pipeline.json"
ARRAYS_FILE = "pipeline.safetensors"
VOCABULARY_FILE = "vocabulary.json"
FORMAT = 1
VECTORIZERS: dict[str, type[CountVectorizer]] = {
    "CountVectorizer": CountVectorizer,
    "TfidfVectorizer": TfidfVectorizer,
}


def linear_models() -> dict[str, type[Any]]:
    """The linear classifiers a saved pipeline may name."""
    return {
        "LogisticRegression": LogisticRegression,
        "LinearSVC": LinearSVC,
        "NBSVM": NBSVM,
        "OneVsRestLogistic": OneVsRestLogistic,
    }


def save_pipeline(pipeline: Pipeline, folder: Path) -> None:
    """Write ``pipeline`` (features + classifier) into ``folder`` as JSON and safetensors."""
    from safetensors.numpy import save_file

    features, classifier = pipeline.named_steps["features"], pipeline.named_steps["classifier"]
    arrays: dict[str, np.ndarray] = {}
    params = features.get_params()
    params["dtype"] = np.dtype(params["dtype"]).name
    spec: dict[str, Any] = {
        "format": FORMAT,
        "features": {"class": type(features).__name__, "params": params},
        "classes": [str(label) for label in classifier.classes_],
    }
    if isinstance(features, TfidfVectorizer):
        arrays["idf"] = features.idf_
    if isinstance(classifier, CalibratedClassifierCV):
        if classifier.method != "sigmoid" or len(classifier.calibrated_classifiers_) != 1:
            raise ModelError("only a single sigmoid-calibrated classifier can be saved")
        (calibrated,) = classifier.calibrated_classifiers_
        spec["calibrated"] = {
            "params": {"cv": classifier.cv, "ensemble": classifier.ensemble},
            "calibrators": len(calibrated.calibrators),
        }
        for index, calibrator in enumerate(calibrated.calibrators):
            arrays[f"calibrator.{index}"] = np.array([calibrator.a_, calibrator.b_])
        classifier = calibrated.estimator
    spec["linear"] = {"class": type(classifier).__name__, "params": classifier.get_params()}
    arrays["coef"] = np.ascontiguousarray(classifier.coef_)
    arrays["intercept"] = np.atleast_1d(np.asarray(classifier.intercept_, dtype=np.float64))
    vocabulary = features.vocabulary_
    terms = sorted(vocabulary, key=vocabulary.__getitem__)
    (folder / VOCABULARY_FILE).write_text(json.dumps(terms), encoding="utf-8")
    save_file(arrays, str(folder / ARRAYS_FILE))
    (folder / SPEC_FILE).write_text(json.dumps(spec, indent=1), encoding="utf-8")


def load_pipeline(folder: Path) -> Pipeline:
    """Rebuild a pipeline written by :func:`save_pipeline`; anything unexpected is refused.

    Raises:
        ModelError: a file is missing or damaged, or names a class outside the allow-list.
    """
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    spec = _read_json(folder / SPEC_FILE)
    terms = _read_json(folder / VOCABULARY_FILE)
    try:
        arrays = load_file(str(folder / ARRAYS_FILE))
    except (SafetensorError, OSError) as exc:
        raise _damaged(folder / ARRAYS_FILE, exc) from None
    try:
        coef, intercept = arrays["coef"], arrays["intercept"]
        if coef.shape[1] != len(terms) or len(intercept) != len(coef):  # files of two models
            raise ValueError(
                f"{len(terms)} terms in {VOCABULARY_FILE} but coef has shape {coef.shape}, "
                f"intercept {intercept.shape}"
            )
        features = _allowed(VECTORIZERS, spec["features"]["class"], folder)
        params = dict(spec["features"]["params"])
        params["dtype"] = np.dtype(params["dtype"]).type
        if params.get("input", "content") != "content":  # "filename" would open files
            raise ValueError(f"features read input={params['input']!r}, not the texts")
        vectorizer = features(**params)
        vectorizer.vocabulary_ = {term: index for index, term in enumerate(terms)}
        if isinstance(vectorizer, TfidfVectorizer):
            vectorizer.idf_ = arrays["idf"]
        classes = np.asarray(spec["classes"])
        linear = _allowed(linear_models(), spec["linear"]["class"], folder)(
            **spec["linear"]["params"]
        )
        linear.coef_, linear.intercept_ = arrays["coef"], arrays["intercept"]
        linear.classes_, linear.n_features_in_ = classes, arrays["coef"].shape[1]
        classifier: Any = linear
        if "calibrated" in spec:
            calibrators = []
            for index in range(spec["calibrated"]["calibrators"]):
                calibrator = _SigmoidCalibration()
                calibrator.a_, calibrator.b_ = (float(v) for v in arrays[f"calibrator.{index}"])
                calibrators.append(calibrator)
            classifier = CalibratedClassifierCV(linear, **spec["calibrated"]["params"])
            classifier.calibrated_classifiers_ = [
                _CalibratedClassifier(linear, calibrators, classes=classes, method="sigmoid")
            ]
            classifier.classes_, classifier.n_features_in_ = classes, linear.n_features_in_
    except (KeyError, TypeError, ValueError) as exc:
        raise _damaged(folder / SPEC_FILE, exc) from None
    return Pipeline([("features", vectorizer), ("classifier", classifier)])


def _allowed(allowed: dict[str, type[Any]], name: str, folder: Path) -> type[Any]:
    if name not in allowed:
        raise ModelError(
            f"{folder / SPEC_FILE}: refusing to load unexpected class {name!r}",
            hint="only load model directories written by bertsent",
        )
    return allowed[name]


def _read_json(file: Path) -> Any:
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"{file.parent}: missing {file.name}", hint="retrain the model") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _damaged(file, exc) from None


def _damaged(file: Path, exc: Exception) -> ModelError:
    from bertsent.models.base import DAMAGED_HINT

    return ModelError(f"{file} is damaged or incomplete ({exc})", hint=DAMAGED_HINT)
