"""NB-SVM as a scikit-learn estimator (shared by the baselines and their saved form)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Self

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model._base import LinearClassifierMixin
from sklearn.svm import LinearSVC


class NBSVM(LinearClassifierMixin, ClassifierMixin, BaseEstimator):
    """Wang & Manning's (2012) NB-SVM: a linear SVM on features scaled by NB log-count ratios.

    For each class (one class for binary problems) ``r = log((p/|p|) / (q/|q|))`` with
    ``p``, ``q`` the smoothed feature counts in and out of the class; an SVM is fitted on
    ``r * x`` and its weights are interpolated towards their mean magnitude
    (``w' = (1 - beta) * mean|w| + beta * w``), which keeps the robustness of naive Bayes
    on short snippets. The result is folded into one linear model over ``x``.

    >>> NBSVM(C=0.1).fit(sparse.csr_matrix([[1, 0], [0, 1]]), ["neg", "pos"]).predict(
    ...     sparse.csr_matrix([[0, 1]]))
    array(['pos'], dtype='<U3')
    """

    def __init__(
        self, C: float = 1.0, beta: float = 0.25, alpha: float = 1.0, random_state: int = 0
    ) -> None:
        self.C = C
        self.beta = beta
        self.alpha = alpha
        self.random_state = random_state

    def fit(self, X: Any, y: Sequence[Any]) -> Self:
        X = sparse.csr_matrix(X, dtype=np.float64)
        labels = np.asarray(y)
        self.classes_ = np.unique(labels)
        targets = self.classes_[1:] if len(self.classes_) == 2 else self.classes_
        coefficients, intercepts = [], []
        for target in targets:
            inside = labels == target
            p = self.alpha + np.asarray(X[inside].sum(axis=0)).ravel()
            q = self.alpha + np.asarray(X[~inside].sum(axis=0)).ravel()
            ratio = np.log((p / p.sum()) / (q / q.sum()))  # (n_features,)
            svm = LinearSVC(C=self.C, max_iter=5000, random_state=self.random_state)
            svm.fit(X.multiply(ratio).tocsr(), inside)
            weights = svm.coef_.ravel()
            weights = (1 - self.beta) * np.abs(weights).mean() + self.beta * weights
            coefficients.append(weights * ratio)
            intercepts.append(self.beta * svm.intercept_[0])
        self.coef_ = np.vstack(coefficients)  # (1 or n_classes, n_features)
        self.intercept_ = np.asarray(intercepts)
        return self
