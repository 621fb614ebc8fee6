"""The behaviour suite's generators, and its runner against models with known behaviour."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import numpy as np
import pytest

from bertsent.errors import ModelError
from bertsent.evaluation import lexicon
from bertsent.evaluation.behaviour import (
    CATEGORIES,
    add_typo,
    fill,
    generate_suite,
    polarity_columns,
    run_suite,
)
from tests.conftest import FixedClassifier


class KeywordCounter(FixedClassifier):
    """Counts lexicon words: the pure bag-of-words behaviour the suite is meant to expose."""

    method = "keyword-counter"

    def __init__(self, *, labels: Sequence[str] = ("negative", "positive")) -> None:
        self.labels_ = list(labels)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        positive = set(lexicon.POSITIVE_ADJECTIVES) | set(lexicon.MILD_ADJECTIVES["positive"])
        negative = set(lexicon.NEGATIVE_ADJECTIVES) | set(lexicon.MILD_ADJECTIVES["negative"])
        rows = []
        for text in texts:
            tokens = text.lower().replace(".", " ").replace(",", " ").split()
            score = sum(t in positive for t in tokens) - sum(t in negative for t in tokens)
            p = 1 / (1 + math.exp(-(score + 0.01)))
            rows.append([1 - p, p])
        return np.array(rows)


def test_suite_is_reproducible_and_covers_every_category() -> None:
    suite = generate_suite(per_test=20, seed=1)
    again = generate_suite(per_test=20, seed=1)
    assert [t.cases for t in suite] == [t.cases for t in again]
    assert [t.cases for t in suite] != [t.cases for t in generate_suite(per_test=20, seed=2)]
    assert {t.category for t in suite} == set(CATEGORIES)
    assert all(len(t.cases) >= 10 for t in suite), {t.name: len(t.cases) for t in suite}
    for test in suite:
        texts = [case.texts for case in test.cases]
        assert len(texts) == len(set(texts)), f"duplicates in {test.name}"
        if test.kind == "mft":
            assert {case.expect for case in test.cases} <= {"positive", "negative"}
        elif test.kind == "dir":
            assert all(case.expect in {"up", "down"} and case.polarity for case in test.cases)
        else:
            assert all(
                len(case.texts) == 2 and case.texts[0] != case.texts[1] for case in test.cases
            )


def test_seed_puzzles_are_part_of_the_suite() -> None:
    cases = {(test.name, case.texts) for test in generate_suite() for case in test.cases}
    assert ("great, another ...", ("Great, another boring superhero movie",)) in cases
    assert ("negated negative adjective", ("This is not a bad film",)) in cases
    assert ("intensifier raises confidence", ("Good", "Absolutely incredible")) in cases
    assert ("downtoner lowers confidence", ("Good", "Somewhat good")) in cases


def test_templates_say_what_the_test_claims() -> None:
    suite = {test.name: test for test in generate_suite()}
    positive, negative = set(lexicon.POSITIVE_ADJECTIVES), set(lexicon.NEGATIVE_ADJECTIVES)
    for case in suite["positive, but negative"].cases:
        words = set(case.texts[0].lower().rstrip(".").replace(",", "").split())
        assert words & positive and words & negative
    for case in suite["negated positive adjective"].cases:
        assert " not " in case.texts[0] or "n't " in case.texts[0]
    for case in suite["change the actor"].cases:
        before, after = case.texts
        assert [a for a in lexicon.ACTORS if a in before] != [
            a for a in lexicon.ACTORS if a in after
        ]
        assert before.split(" is ")[1] == after.split(" is ")[1]  # same opinion
    for case in suite["downtoner lowers confidence"].cases[2:]:
        assert any(f" is {d} " in case.texts[1] for d in lexicon.DOWNTONERS)


def test_fill_samples_distinct_fillings() -> None:
    rng = np.random.default_rng(0)
    slots = {"a": ["x", "y", "z"], "b": ["1", "2", "3", "4"]}
    everything = fill("{a}-{b}", slots, 100, rng)
    assert sorted(everything) == sorted(f"{a}-{b}" for a in "xyz" for b in "1234")
    some = fill("{a}-{b}", slots, 5, rng)
    assert len(some) == len(set(some)) == 5 and set(some) <= set(everything)


def test_add_typo_swaps_two_neighbouring_letters() -> None:
    rng = np.random.default_rng(0)
    original = "The camera is wonderful."
    for _ in range(20):
        changed = add_typo(original, rng)
        assert changed is not None and changed != original
        assert Counter(changed) == Counter(original)
        differing = [i for i, (a, b) in enumerate(zip(changed, original, strict=True)) if a != b]
        assert len(differing) == 2 and differing[1] == differing[0] + 1
    assert add_typo("so bad", rng) is None


def test_runner_exposes_a_keyword_counter() -> None:
    result = run_suite(KeywordCounter())
    tests = {t["name"]: t for t in result["tests"]}
    assert tests["positive adjective"]["failure_rate"] == 0
    assert tests["negative adjective"]["failure_rate"] == 0
    assert tests["negated positive adjective"]["failure_rate"] == 1.0
    assert tests["negated negative adjective"]["failure_rate"] == 1.0
    assert tests["change the film title"]["failure_rate"] == 0
    failure = tests["negated positive adjective"]["examples"][0]
    assert failure["expected"] == "negative" and failure["predicted"] == "positive"
    assert 0 < result["pass_rate"] < 1
    assert result["cases"] == sum(t["cases"] for t in result["tests"])
    negation = result["categories"]["negation"]
    assert negation["failure_rate"] == pytest.approx(
        negation["failures"] / negation["cases"], abs=1e-4
    )


def test_a_multi_label_model_is_refused_not_read_as_one_side() -> None:
    """Its independent sigmoids were read as one softmax's sides, and `behave` exited 0."""
    from bertsent.data.tasks import MultiLabelTask

    model = KeywordCounter()
    model.task_ = MultiLabelTask(model.labels_)  # e.g. labels positive;funny
    with pytest.raises(ModelError, match="multi-label model scores each label on its own"):
        run_suite(model)


class AbstainsOnNegation(KeywordCounter):
    """An LLM that names no label for any review with "not" in it (a row of zeros)."""

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        rows = super().predict_proba(texts)
        rows[[" not " in f" {text.lower()} " for text in texts]] = 0.0
        return rows


def test_an_abstention_fails_every_test_it_is_in() -> None:
    result = run_suite(AbstainsOnNegation())
    tests = {t["name"]: t for t in result["tests"]}
    # a row of zeros used to read as the negative side: these all passed
    assert tests["negated positive adjective"]["failure_rate"] == 1.0
    failure = tests["negated positive adjective"]["examples"][0]
    assert failure["predicted"] == "abstained" and failure["p_positive"] == 0.0
    assert tests["positive adjective"]["failure_rate"] == 0  # answered cases as before


class AbstainsAlways(KeywordCounter):
    """An LLM whose replies never name a label."""

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return np.zeros((len(texts), len(self.labels_)))


def test_a_model_that_always_abstains_fails_every_test() -> None:
    """Two abstentions read as the same label passed every invariance test, and an
    abstention's log-odds of 0 passed directional ones."""
    result = run_suite(AbstainsAlways())
    assert {t["name"]: t["failure_rate"] for t in result["tests"]} == {
        t["name"]: 1.0 for t in result["tests"]
    }
    assert result["pass_rate"] == 0


class AlwaysNeutral(FixedClassifier):
    """A three-class LLM that answers "neutral" to every review: one-hot, no side at all."""

    def __init__(self) -> None:
        self.labels_ = ["negative", "neutral", "positive"]

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return np.tile([0.0, 1.0, 0.0], (len(texts), 1))


def test_a_review_on_neither_side_fails_positive_and_negative_expectations_alike() -> None:
    tests = {t["name"]: t for t in run_suite(AlwaysNeutral())["tests"]}
    # level sides read as negative: every negative expectation passed
    assert tests["negated positive adjective"]["failure_rate"] == 1.0
    assert tests["positive adjective"]["failure_rate"] == 1.0
    assert tests["negated positive adjective"]["examples"][0]["predicted"] == "neutral"


def test_polarity_columns_for_common_label_sets() -> None:
    assert polarity_columns(["fresh", "rotten"]) == ([0], [1])
    five = ["negative", "neutral", "positive", "very negative", "very positive"]
    assert polarity_columns(five) == ([2, 4], [0, 3])
    # numbered scales by their middle: class "1" of 0-4 is the second lowest, not positive
    assert polarity_columns(["0", "1", "2", "3", "4"]) == ([3, 4], [0, 1])
    assert polarity_columns(["5", "4", "3", "2", "1"]) == ([0, 1], [3, 4])  # star ratings
    assert polarity_columns(["0", "1"]) == ([1], [0])  # a binary 0/1 is read by name
    # a scale with a gap keeps its middle: neutral, and 3 of stars 1, 3, 4, 5, on no side
    four = ["negative", "neutral", "positive", "very positive"]
    assert polarity_columns(four) == ([2, 3], [0])
    assert polarity_columns(["1", "3", "4", "5"]) == ([2, 3], [0])
    with pytest.raises(ModelError, match="positive and negative"):
        polarity_columns(["joy", "anger"])
    with pytest.raises(ModelError):
        run_suite(KeywordCounter(labels=["joy", "anger"]))
