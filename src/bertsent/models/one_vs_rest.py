"""One logistic regression per label, for multi-label data (a scikit-learn estimator)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Self

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression

from bertsent.data.tasks import MultiLabelTask, label_names


class OneVsRestLogistic(ClassifierMixin, BaseEstimator):
    """Binary relevance: label ``k`` is on when ``sigmoid(x . coef_[k] + intercept_[k])``
    reaches 0.5. Targets are ``joy;surprise`` strings; the fitted state is one
    (labels, features) weight matrix, saved like any linear model.

    >>> from scipy import sparse
    >>> X = sparse.csr_matrix([[1, 0], [0, 1], [1, 1], [0, 0]])
    >>> OneVsRestLogistic(C=10).fit(X, ["a", "b", "a;b", "b"]).predict(X[:3]).tolist()
    ['a', 'b', 'a;b']
    """

    def __init__(self, C: float = 1.0, max_iter: int = 2000, random_state: int = 0) -> None:
        self.C = C
        self.max_iter = max_iter
        self.random_state = random_state

    def fit(self, X: Any, y: Sequence[str]) -> Self:
        self.classes_ = np.asarray(label_names(y))
        targets = MultiLabelTask(self.classes_.tolist()).targets(y)  # (n, labels) 0/1
        coefficients, intercepts = [], []
        for column in targets.T:
            if column.min() == column.max():  # a label always (or never) on: a constant
                coefficients.append(np.zeros(X.shape[1]))
                intercepts.append(20.0 if column[0] else -20.0)
                continue
            model = LogisticRegression(
                C=self.C, max_iter=self.max_iter, random_state=self.random_state
            ).fit(X, column)
            coefficients.append(model.coef_.ravel())
            intercepts.append(float(model.intercept_[0]))
        self.coef_ = np.vstack(coefficients)  # (labels, features)
        self.intercept_ = np.asarray(intercepts)
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        return np.asarray(X @ self.coef_.T + self.intercept_)

    def predict_proba(self, X: Any) -> np.ndarray:
        """(n, labels) independent probabilities: they need not sum to 1."""
        return 1.0 / (1.0 + np.exp(-self.decision_function(X)))

    def predict(self, X: Any) -> np.ndarray:
        task = MultiLabelTask(self.classes_.tolist())
        return np.asarray(task.decide(self.predict_proba(X)))
