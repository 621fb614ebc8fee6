"""A CheckList-style behaviour suite: negation, sarcasm, contrast, intensity, invariance.

Tests are generated from templates and the word lists in :mod:`lexicon`, for movie and
product reviews. Three kinds, after Ribeiro et al. (2020):

- ``mft`` (minimum functionality): each text has an expected polarity;
- ``dir`` (directional): a change to a text must move the model's confidence one way
  (an intensifier must raise it, a downtoner lower it);
- ``inv`` (invariance): a change that does not alter the meaning must not flip the label.

Any model whose labels name a positive and a negative side can be tested
(positive/negative, fresh/rotten, 5-class SST...).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bertsent.data.augment import NEGATIVE_LABELS, POSITIVE_LABELS
from bertsent.data.tasks import FineGrainedTask, ordinal_scale, scale_positions
from bertsent.errors import ModelError
from bertsent.evaluation import lexicon as words
from bertsent.models.base import SentimentClassifier

CATEGORIES = ("vocabulary", "negation", "sarcasm", "contrast", "intensity", "invariance")


@dataclass(frozen=True)
class Case:
    """One check. ``mft``: (text,) and ``expect`` positive|negative. ``dir``: (base,
    changed), ``expect`` up|down for the confidence in ``polarity``. ``inv``: (base,
    changed), the label must stay."""

    texts: tuple[str, ...]
    expect: str | None = None
    polarity: str | None = None


@dataclass(frozen=True)
class BehaviourTest:
    name: str
    category: str
    kind: str  # mft | dir | inv
    description: str
    cases: tuple[Case, ...]


def fill(
    template: str, slots: dict[str, Sequence[str]], count: int, rng: np.random.Generator
) -> list[str]:
    """Up to ``count`` distinct fillings of ``template``'s ``{slot}`` fields, sampled with ``rng``.

    >>> fill("a {adj} film", {"adj": ["good", "bad"]}, 5, np.random.default_rng(0))
    ['a good film', 'a bad film']
    """
    names = [name for name in re.findall(r"{(\w+)}", template)]
    names = list(dict.fromkeys(names))
    sizes = [len(slots[name]) for name in names]
    total = math.prod(sizes)
    chosen = range(total) if total <= count else sorted(rng.choice(total, count, replace=False))
    texts = []
    for number in chosen:
        values = {}
        for name, size in zip(reversed(names), reversed(sizes), strict=True):
            number, index = divmod(int(number), size)
            values[name] = slots[name][index]
        texts.append(template.format(**values))
    return texts


def _capitalised(text: str) -> str:
    return text[0].upper() + text[1:]


def _mft(
    name: str,
    category: str,
    description: str,
    expect: str,
    templates: Sequence[tuple[str, dict[str, Sequence[str]]]],
    per_test: int,
    rng: np.random.Generator,
    fixed: Sequence[str] = (),
) -> BehaviourTest:
    per_template = max(1, per_test // len(templates))
    texts = list(fixed)
    for template, slots in templates:
        texts += fill(template, slots, per_template, rng)
    cases = tuple(Case((_capitalised(text),), expect) for text in dict.fromkeys(texts))
    return BehaviourTest(name, category, "mft", description, cases)


def _pairs(
    name: str,
    category: str,
    kind: str,
    description: str,
    bases: Sequence[tuple[str, str]],
    change: Callable[[str, np.random.Generator], str | None],
    expect: str | None,
    rng: np.random.Generator,
) -> BehaviourTest:
    """``dir``/``inv`` cases from (text, polarity) bases and a function that changes a text."""
    cases = []
    for text, polarity in bases:
        changed = change(text, rng)
        if changed is not None and changed != text:
            cases.append(Case((text, changed), expect, polarity))
    return BehaviourTest(name, category, kind, description, tuple(cases))


def add_typo(text: str, rng: np.random.Generator) -> str | None:
    """Swap two neighbouring letters inside one word of four letters or more."""
    candidates = [m for m in re.finditer(r"[A-Za-z]{4,}", text)]
    if not candidates:
        return None
    match = candidates[int(rng.integers(len(candidates)))]
    i = match.start() + int(rng.integers(1, len(match.group()) - 2))
    return text[:i] + text[i + 1] + text[i] + text[i + 2 :]


def _replace_one_of(options: Sequence[str]) -> Callable[[str, np.random.Generator], str | None]:
    def change(text: str, rng: np.random.Generator) -> str | None:
        present = [option for option in options if option in text]
        if not present:
            return None
        others = [option for option in options if option != present[0]]
        return text.replace(present[0], others[int(rng.integers(len(others)))])

    return change


def _punctuate(text: str, rng: np.random.Generator) -> str:
    endings = ("!", "!!", "...", "", " .")
    return text.rstrip(".!") + endings[int(rng.integers(len(endings)))]


def generate_suite(per_test: int = 40, seed: int = 0) -> list[BehaviourTest]:
    """The full suite: about ``per_test`` cases for each of its tests, reproducible by seed."""
    rng = np.random.default_rng(seed)
    nouns = {"noun": words.MOVIE_NOUNS + words.PRODUCT_NOUNS}
    positive, negative = words.POSITIVE_ADJECTIVES, words.NEGATIVE_ADJECTIVES
    both_aspects = words.MOVIE_ASPECTS + words.PRODUCT_ASPECTS
    tests: list[BehaviourTest] = []

    # --- vocabulary: the easy cases every model should get, as a baseline for the rest
    tests.append(_mft(
        "positive adjective", "vocabulary", "plain praise", "positive",
        [("the {noun} is {adj}.", {**nouns, "adj": positive}),
         ("this is a {adj} {noun}.", {**nouns, "adj": positive})], per_test, rng,
    ))  # fmt: skip
    tests.append(_mft(
        "negative adjective", "vocabulary", "plain criticism", "negative",
        [("the {noun} is {adj}.", {**nouns, "adj": negative}),
         ("this is a {adj} {noun}.", {**nouns, "adj": negative})], per_test, rng,
    ))  # fmt: skip

    # --- negation
    tests.append(_mft(
        "negated positive adjective", "negation", "'not good' is negative", "negative",
        [("the {noun} is not {adj}.", {**nouns, "adj": positive}),
         ("this {noun} isn't {adj} at all.", {**nouns, "adj": positive}),
         ("I don't think the {noun} is {adj}.", {**nouns, "adj": positive})], per_test, rng,
    ))  # fmt: skip
    tests.append(_mft(
        "negated negative adjective", "negation", "'not bad' is positive", "positive",
        [("the {noun} is not {adj}.", {**nouns, "adj": negative}),
         ("this is not a {adj} {noun}.", {**nouns, "adj": negative}),
         ("the {noun} is never {adj}.", {**nouns, "adj": negative})], per_test, rng,
        fixed=["This is not a bad film"],
    ))  # fmt: skip
    tests.append(_mft(
        "negated positive verb", "negation", "'did not enjoy' is negative", "negative",
        [("I did not {verb} this {noun}.", {**nouns, "verb": words.POSITIVE_VERBS}),
         ("I can't say I {verb} this {noun}.", {**nouns, "verb": ("liked", "enjoyed",
                                                                    "loved")})],
        per_test, rng,
    ))  # fmt: skip
    tests.append(_mft(
        "never fails to, no regrets", "negation", "negated failure is positive", "positive",
        [("this {noun} never fails to {verb}.", {**nouns, "verb": words.NEVER_FAILS_TO}),
         ("I do not regret {ing} this {noun}.", {**nouns, "ing": words.REGRETTABLE})],
        per_test, rng,
    ))  # fmt: skip
    tests.append(_mft(
        "nothing positive", "negation", "'nothing good about' is negative", "negative",
        [("there is nothing {adj} about this {noun}.", {**nouns, "adj": positive})],
        per_test, rng,
    ))  # fmt: skip

    # --- sarcasm and irony: positive words in a negative frame
    tests.append(_mft(
        "great, another ...", "sarcasm", "mock enthusiasm about more of the same", "negative",
        [("{cheer}, another {stale} {genre} movie.",
          {"cheer": words.CHEERFUL_WORDS, "stale": words.STALE_ADJECTIVES,
           "genre": words.GENRES}),
         ("{cheer}, another {noun} that {failed} after {time}.",
          {"cheer": words.CHEERFUL_WORDS, "noun": words.PRODUCT_NOUNS,
           "failed": words.FAILURES, "time": words.SHORT_TIMES})], per_test, rng,
        fixed=["Great, another boring superhero movie"],
    ))  # fmt: skip
    tests.append(_mft(
        "what a fantastic way to waste", "sarcasm", "praise for wasted time or money",
        "negative",
        [("what a {adj} way to waste {what}.",
          {"adj": ("fantastic", "wonderful", "great", "brilliant", "lovely"),
           "what": words.WASTED_THINGS}),
         ("thanks for {what} of my life I will never get back.",
          {"what": words.WASTED_THINGS[:2] + words.WASTED_THINGS[4:5]})], per_test, rng,
    ))  # fmt: skip
    tests.append(_mft(
        "loved the bad experience", "sarcasm", "'I loved' + something nobody loves",
        "negative",
        [("I just {loved} {experience}.",
          {"loved": ("loved", "adored", "really enjoyed"), "experience": words.BAD_EXPERIENCES}),
         ("oh {cheer}, the {part} {failed} after {time}.",
          {"cheer": ("wonderful", "great", "perfect"), "part": words.PARTS,
           "failed": words.FAILURES, "time": words.SHORT_TIMES})], per_test, rng,
    ))  # fmt: skip

    # --- contrast: the clause after "but" (or the main clause after "although") decides
    tests.append(_mft(
        "positive, but negative", "contrast", "'X, but Y': Y is negative", "negative",
        [("the {aspect} is {pos}, but the {noun} is {neg}.",
          {"aspect": both_aspects, "pos": positive, "neg": negative, **nouns}),
         ("although the {aspect} is {pos}, the {noun} is {neg}.",
          {"aspect": both_aspects, "pos": positive, "neg": negative, **nouns})], per_test, rng,
    ))  # fmt: skip
    tests.append(_mft(
        "negative, but positive", "contrast", "'X, but Y': Y is positive", "positive",
        [("the {aspect} is {neg}, but the {noun} is {pos}.",
          {"aspect": both_aspects, "pos": positive, "neg": negative, **nouns}),
         ("despite the {neg} {aspect}, the {noun} is {pos}.",
          {"aspect": both_aspects, "pos": positive, "neg": negative, **nouns})], per_test, rng,
    ))  # fmt: skip

    # --- intensity: directional tests on the confidence in the adjective's polarity
    def graded(adjectives: Mapping[str, Sequence[str]]) -> list[tuple[str, str]]:
        bases = []
        for polarity, options in adjectives.items():
            for text in fill("the {noun} is {adj}.", {**nouns, "adj": options}, per_test, rng):
                bases.append((_capitalised(text), polarity))
        return bases

    def modify(
        modifiers: Sequence[str], seed_pairs: dict[str, str]
    ) -> Callable[[str, np.random.Generator], str]:
        """Put a modifier before the adjective; the seed's own examples are fixed pairs."""

        def change(text: str, rng: np.random.Generator) -> str:
            if text in seed_pairs:
                return seed_pairs[text]
            modifier = modifiers[int(rng.integers(len(modifiers)))]
            return text.replace(" is ", f" is {modifier} ", 1)

        return change

    seeds = [("Good", "positive"), ("Bad", "negative")]
    tests.append(_pairs(
        "intensifier raises confidence", "intensity", "dir",
        "'really good' must be more confidently positive than 'good'",
        [*seeds, *graded(words.MILD_ADJECTIVES)[::2]],
        modify(words.INTENSIFIERS, {"Good": "Absolutely incredible", "Bad": "Absolutely awful"}),
        "up", rng,
    ))  # fmt: skip
    tests.append(_pairs(
        "downtoner lowers confidence", "intensity", "dir",
        "'somewhat good' must be less confidently positive than 'good'",
        [*seeds, *graded(words.STRONG_ADJECTIVES)[::2]],
        modify(words.DOWNTONERS, {"Good": "Somewhat good", "Bad": "Somewhat bad"}),
        "down", rng,
    ))  # fmt: skip

    # --- invariance: changes that keep the meaning must keep the label
    mixed = positive[:8] + negative[:8]
    polarity_of = {**dict.fromkeys(positive, "positive"), **dict.fromkeys(negative, "negative")}

    def bases(template: str, slots: dict[str, Sequence[str]]) -> list[tuple[str, str]]:
        texts = fill(template, slots, per_test, rng)
        return [(_capitalised(t), polarity_of[t.rstrip(".").split()[-1]]) for t in texts]

    titled = bases("I watched {title} last night and it was {adj}.",
                   {"title": words.FILM_TITLES, "adj": mixed})  # fmt: skip
    starring = bases("the new film with {actor} is {adj}.",
                     {"actor": words.ACTORS, "adj": mixed})  # fmt: skip
    branded = bases("the {brand} {noun} is {adj}.",
                    {"brand": words.BRANDS, "noun": words.PRODUCT_NOUNS, "adj": mixed})  # fmt: skip
    tests.append(_pairs("change the film title", "invariance", "inv",
                        "another title must not flip the label", titled,
                        _replace_one_of(words.FILM_TITLES), None, rng))  # fmt: skip
    tests.append(_pairs("change the actor", "invariance", "inv",
                        "another actor's name must not flip the label", starring,
                        _replace_one_of(words.ACTORS), None, rng))  # fmt: skip
    tests.append(_pairs("change the brand", "invariance", "inv",
                        "another brand must not flip the label", branded,
                        _replace_one_of(words.BRANDS), None, rng))  # fmt: skip
    everyday = titled[: per_test // 2] + branded[: per_test // 2]
    tests.append(_pairs("add a typo", "invariance", "inv",
                        "swapping two letters must not flip the label", everyday,
                        add_typo, None, rng))  # fmt: skip
    tests.append(_pairs("change trailing punctuation", "invariance", "inv",
                        "'!' or '...' at the end must not flip the label", everyday,
                        _punctuate, None, rng))  # fmt: skip
    return tests


def polarity_columns(labels: Sequence[str]) -> tuple[list[int], list[int]]:
    """Indices of the model's positive and negative classes: by name, or on an ordered
    scale (SST-5's names, star ratings 1-5, classes 0-4) the classes above and below
    its middle, so that a numbered class "1" is not taken for "positive".

    Raises:
        ModelError: when the labels do not name both sides (e.g. emotion labels).
    """
    if ordinal_scale(labels) is not None:
        place = scale_positions(labels)
        positive = [i for i, label in enumerate(labels) if place[label] > 0]
        negative = [i for i, label in enumerate(labels) if place[label] < 0]
        return positive, negative
    positive = [i for i, label in enumerate(labels) if label.lower() in POSITIVE_LABELS]
    negative = [i for i, label in enumerate(labels) if label.lower() in NEGATIVE_LABELS]
    if not positive or not negative:
        raise ModelError(
            f"the behaviour suite needs positive and negative classes; model labels are "
            f"{', '.join(labels)}",
            hint=f"positive names: {', '.join(sorted(POSITIVE_LABELS))}; negative names: "
            f"{', '.join(sorted(NEGATIVE_LABELS))}",
        )
    return positive, negative


def suite_applies(model: SentimentClassifier) -> bool:
    """Whether the suite can score ``model``: single reviews, one positive and one
    negative class among its labels, one label per review."""
    if not model.task_.one_text_one_label:
        return False
    try:
        polarity_columns(model.labels_)
    except ModelError:
        return False
    return True


def positive_strength(
    model: SentimentClassifier, texts: Sequence[str]
) -> tuple[dict[str, float], str]:
    """How strongly positive each distinct text is, and the measure's name: the intensity
    score of a fine-grained model, else the positive log-odds (what the suite's intensity
    tests compare)."""
    unique, probabilities, odds, _ = _scored(model, texts)
    return _strength(model, unique, probabilities, odds)


def _scored(
    model: SentimentClassifier, texts: Sequence[str]
) -> tuple[list[str], np.ndarray, dict[str, float], list[int]]:
    """The distinct texts, their probabilities, positive log-odds and the positive
    columns; a label set with no positive and negative side fails before anything is
    scored."""
    positive, negative = polarity_columns(model.labels_)
    unique = list(dict.fromkeys(texts))
    probabilities = model.predict_proba(unique)
    log_odds = _log_odds(probabilities, positive, negative)
    odds = dict(zip(unique, (float(v) for v in log_odds), strict=True))
    return unique, probabilities, odds, positive


def _strength(
    model: SentimentClassifier,
    texts: list[str],
    probabilities: np.ndarray,
    odds: dict[str, float],
) -> tuple[dict[str, float], str]:
    # a fine-grained model's intensity (the expected place on its scale) sees "really
    # good" rise within one class, where the sides' odds may not
    if isinstance(model.task_, FineGrainedTask):
        values = model.task_.intensity(probabilities)
        return dict(zip(texts, (float(v) for v in values), strict=True)), "intensity"
    return odds, "log_odds"


def _log_odds(probabilities: np.ndarray, positive: list[int], negative: list[int]) -> np.ndarray:
    p_positive = probabilities[:, positive].sum(axis=1).clip(1e-12)
    p_negative = probabilities[:, negative].sum(axis=1).clip(1e-12)
    return np.log(p_positive) - np.log(p_negative)


def _side(log_odds: float) -> str:
    """The side a review is on; neither where the sides are level, as for an LLM's
    "neutral" on a three-class scale (no mass on either side), which read as negative."""
    if log_odds == 0:
        return "neutral"
    return "positive" if log_odds > 0 else "negative"


def _confidence(log_odds: float, polarity: str | None) -> float:
    return log_odds if polarity == "positive" else -log_odds


def run_suite(
    model: SentimentClassifier,
    tests: Sequence[BehaviourTest] | None = None,
    *,
    examples: int = 5,
) -> dict[str, Any]:
    """Run every test; return failure rates per test and category, with failing examples.

    Returns:
        ``{"pass_rate", "cases", "categories": {name: {"cases", "failures",
        "failure_rate"}}, "tests": [...]}``; each test lists up to ``examples`` failures.
    """
    if len(model.task_.input_names) > 1:
        raise ModelError(
            f"the behaviour suite scores single reviews; this {model.task_.name} model reads "
            f"{' + '.join(model.task_.input_names)}",
            hint="measure it with `bertsent evaluate` on its own kind of data",
        )
    if not model.task_.one_text_one_label:  # its sigmoids are no side of one review
        raise ModelError(
            f"the behaviour suite asks which side one review is on; this {model.task_.name} "
            "model scores each label on its own",
            hint="measure it with `bertsent evaluate` on its own kind of data",
        )
    tests = list(tests) if tests is not None else generate_suite()
    everything = [text for test in tests for case in test.cases for text in case.texts]
    unique, probabilities, odds, positive = _scored(model, everything)
    # an LLM's abstention (a row of zeros) is on no side: wrong in every test, never a side
    answered = probabilities.sum(axis=1) > 0
    side = {
        text: _side(odds[text]) if known else "abstained"
        for text, known in zip(unique, answered, strict=True)
    }
    p_positive = dict(zip(unique, probabilities[:, positive].sum(axis=1).tolist(), strict=True))
    strength, measure = _strength(model, unique, probabilities, odds)
    results: list[dict[str, Any]] = []
    for test in tests:
        failures: list[dict[str, Any]] = []
        shown: dict[str, Any]
        for case in test.cases:
            predicted = [side[text] for text in case.texts]
            abstained = "abstained" in predicted
            if test.kind == "mft":
                passed = predicted[0] == case.expect
                shown = {"text": case.texts[0], "expected": case.expect,
                         "predicted": predicted[0],
                         "p_positive": round(p_positive[case.texts[0]], 4)}  # fmt: skip
            elif test.kind == "dir":
                before, after = (_confidence(strength[t], case.polarity) for t in case.texts)
                went_up = after > before if case.expect == "up" else after < before
                passed = went_up and not abstained
                change = None if abstained else round(after - before, 4)
                shown = {"base": case.texts[0], "changed": case.texts[1],
                         "expected": f"confidence in {case.polarity} {case.expect}",
                         "measure": measure,  # confidence in the polarity, in this measure
                         "confidence_change": change}  # fmt: skip
            else:
                passed = predicted[0] == predicted[1] and not abstained
                shown = {"base": case.texts[0], "changed": case.texts[1],
                         "predicted": predicted}  # fmt: skip
            if not passed:
                failures.append(shown)
        results.append({  # one entry per test
            "name": test.name, "category": test.category, "kind": test.kind,
            "description": test.description, "cases": len(test.cases),
            "failures": len(failures),
            "failure_rate": round(len(failures) / max(len(test.cases), 1), 4),
            "examples": failures[:examples],
        })  # fmt: skip
    categories = {}
    for category in CATEGORIES:
        inside = [r for r in results if r["category"] == category]
        cases = sum(r["cases"] for r in inside)
        failed = sum(r["failures"] for r in inside)
        if cases:
            categories[category] = {
                "cases": cases,
                "failures": failed,
                "failure_rate": round(failed / cases, 4),
            }
    total = sum(r["cases"] for r in results)
    failed_total = sum(r["failures"] for r in results)
    return {
        "pass_rate": round(1 - failed_total / max(total, 1), 4),
        "cases": total,
        "categories": categories,
        "tests": results,
    }
