"""Contrast examples: disjoint from the behaviour suite, added to train only, recorded."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from bertsent.data import augment
from bertsent.data.augment import (
    contrast_examples,
    graded_examples,
    intensity_examples,
    label_sides,
    sarcasm_examples,
    scale_places,
    with_augmentation,
)
from bertsent.data.splits import DatasetSplits, Split, text_hashes
from bertsent.data.tasks import FIVE_POINT
from bertsent.errors import ConfigError
from bertsent.evaluation import lexicon
from bertsent.evaluation.behaviour import generate_suite

WORD_LISTS = ("PRAISE", "CRITICISM", "THINGS", "PARTS", "CHERISH", "CHEERS", "ORDEALS", "MERITS",
              "MISHAPS", "DELIGHTS", "BOOSTERS", "HEDGES")  # fmt: skip
FUNCTION_WORDS = {"a", "an", "the", "of", "that", "to", "this", "it", "is", "for", "and"}


def words(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower())


def ngrams(text: str, n: int) -> set[tuple[str, ...]]:
    tokens = words(text)
    return {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


def suite_texts() -> list[str]:
    return [text for test in generate_suite() for case in test.cases for text in case.texts]


def test_word_lists_share_only_function_words_with_the_behaviour_suite() -> None:
    ours = {w for name in WORD_LISTS for entry in getattr(augment, name) for w in words(entry)}
    theirs = set()
    for name in (n for n in dir(lexicon) if n.isupper()):
        value = getattr(lexicon, name)
        entries = (
            [e for group in value.values() for e in group] if isinstance(value, dict) else value
        )
        theirs |= {w for entry in entries for w in words(entry)}
    assert ours & theirs <= FUNCTION_WORDS


def test_no_three_word_sequence_of_a_suite_case_occurs_in_the_examples() -> None:
    """Templates differ, not only the slot words: the suite measures generalisation."""
    examples = contrast_examples(seed=0) + intensity_examples(seed=0) + graded_examples(seed=0)
    examples += sarcasm_examples(seed=0)
    ours = set().union(*(ngrams(text, 3) for text, _ in examples))
    theirs = set().union(*(ngrams(text, 3) for text in suite_texts()))
    assert not ours & theirs


def test_every_cue_word_comes_with_both_outcomes() -> None:
    """Praise, criticism and cheers each occur in positive and in negative examples, so
    only the construction around them tells the label."""
    examples = contrast_examples(per_template=60, seed=3)
    sides = [side for _, side in examples]
    assert abs(sides.count("positive") - sides.count("negative")) < 0.05 * len(sides)
    seen_with: dict[str, set[str]] = {}
    for text, side in examples:
        for cue in (*augment.PRAISE, *augment.CRITICISM, *augment.CHEERS):
            if re.search(rf"\b{cue}\b", text, flags=re.IGNORECASE):
                seen_with.setdefault(cue, set()).add(side)
    assert len(seen_with) == len(augment.PRAISE) + len(augment.CRITICISM) + len(augment.CHEERS)
    assert all(outcomes == {"positive", "negative"} for outcomes in seen_with.values())
    assert contrast_examples(per_template=60, seed=3) == examples  # reproducible by seed


def test_sarcasm_frames_a_mishap_with_praise_and_the_same_frame_decides_nothing() -> None:
    examples = sarcasm_examples(seed=3)
    splits = DatasetSplits(
        "rt",
        train=Split("train", ["a", "b"], ["fresh", "rotten"]),
        dev=Split("dev", ["c"], ["fresh"]),
    )
    augmented, record = with_augmentation(splits, ("sarcasm",), seed=3)
    assert record["added"] == len(examples) > 250
    assert augmented.train.labels[2:] == [
        "rotten" if side == "negative" else "fresh" for _, side in examples
    ]
    for text, side in examples:  # the mishap or the delight decides, never the frame
        mishap = any(m in text for m in augment.MISHAPS)
        delight = any(d in text for d in augment.DELIGHTS)
        assert (mishap, delight) == ((True, False) if side == "negative" else (False, True))
    for cheer in augment.CHEERS:
        sides = {side for text, side in examples if text.startswith(cheer)}
        assert sides == {"positive", "negative"}, cheer


def test_intensity_examples_label_stronger_wording_more_often_with_its_side() -> None:
    shares: dict[str, list[float]] = {"boosted": [], "plain": [], "hedged": []}
    labels_of: dict[str, list[str]] = {}
    for text, side in intensity_examples(seed=0):
        labels_of.setdefault(text, []).append(side)
    for text, sides in labels_of.items():
        adjective = words(text)[-1]
        own = "positive" if adjective in augment.PRAISE else "negative"
        grade = ("boosted" if any(b in text for b in augment.BOOSTERS)
                 else "hedged" if any(h in text for h in augment.HEDGES) else "plain")  # fmt: skip
        shares[grade].append(sides.count(own) / len(sides))
    assert min(shares["boosted"]) > max(shares["plain"]) > max(shares["hedged"]) > 0.5


def test_graded_examples_place_stronger_wording_further_along_the_scale() -> None:
    """On SST-5, the expected place (-1 .. +1) of boosted > plain > hedged wording, each on
    its adjective's side: what a fine-grained model's intensity score is fitted to."""
    position = {"very negative": -1.0, "negative": -0.5, "neutral": 0.0, "positive": 0.5,
                "very positive": 1.0}  # fmt: skip
    places_of: dict[str, list[float]] = {}
    for text, place in graded_examples(seed=0):
        places_of.setdefault(text, []).append(position[place])
    means: dict[str, list[float]] = {"boosted": [], "plain": [], "hedged": []}
    for text, places in places_of.items():
        sign = 1 if words(text)[-1] in augment.PRAISE else -1
        grade = ("boosted" if any(b in text for b in augment.BOOSTERS)
                 else "hedged" if any(h in text for h in augment.HEDGES) else "plain")  # fmt: skip
        means[grade].append(sign * float(np.mean(places)))
    assert min(means["boosted"]) > max(means["plain"]) > max(means["hedged"]) > 0


def test_a_five_class_scale_gets_the_graded_examples_in_its_own_label_names() -> None:
    stars = ["1", "2", "3", "4", "5"]
    splits = DatasetSplits(
        "stars", train=Split("train", list("abcde"), stars), dev=Split("dev", ["x"], ["1"])
    )
    augmented, record = with_augmentation(splits, ("contrast", "intensity"), seed=2)
    generated = list(zip(augmented.train.texts[5:], augmented.train.labels[5:], strict=True))
    assert record["added"] == len(contrast_examples(seed=2)) + len(graded_examples(seed=2))
    assert set(augmented.train.labels) == set(stars)
    # contrast examples take one step in from each end, graded ones spread over the scale
    contrast_labels = {label for _, label in generated[: len(contrast_examples(seed=2))]}
    assert contrast_labels == {"2", "4"}
    assert scale_places(["neg", "mid", "pos"])["very positive"] == "pos"
    with pytest.raises(ConfigError, match="needs a middle class; 1, 2, 3, 4 has none"):
        scale_places(["1", "2", "3", "4"])


def test_unknown_augmentation_is_refused_by_name() -> None:
    splits = DatasetSplits(
        "rt", train=Split("train", ["a"], ["fresh"]), dev=Split("dev", ["b"], ["rotten"])
    )
    with pytest.raises(ConfigError, match="unknown augmentation 'typos'"):
        with_augmentation(splits, ("contrast", "typos"))


def test_label_sides_names_the_data_labels_or_refuses() -> None:
    assert label_sides(["fresh", "rotten"]) == {"positive": "fresh", "negative": "rotten"}
    with pytest.raises(ConfigError, match="one positive and one negative; this data has joy"):
        label_sides(["joy", "anger"])
    with pytest.raises(ConfigError, match="two labels"):
        label_sides(["negative", "neutral", "positive"])


def test_examples_go_to_train_only_with_the_data_labels() -> None:
    splits = DatasetSplits(
        "rt",
        train=Split("train", ["a fine film", "a dull film"], ["fresh", "rotten"]),
        dev=Split("dev", ["fine"], ["fresh"]),
        test=Split("test", ["dull"], ["rotten"]),
    )
    augmented, record = with_augmentation(splits, ("contrast", "intensity"), seed=1)
    added = len(contrast_examples(seed=1)) + len(intensity_examples(seed=1))
    assert record == {"kinds": ["contrast", "intensity"], "added": added}
    assert len(augmented.train) == 2 + added and augmented.train.texts[:2] == splits.train.texts
    assert set(augmented.train.labels) == {"fresh", "rotten"}
    assert augmented.dev == splits.dev and augmented.test == splits.test
    assert augmented.train.where(2) == "contrast+intensity example 1"
    assert "added" in augmented.notes[-1]


def test_train_augment_trains_on_the_examples_and_records_them(
    dataset_dir: Path, tmp_path: Path
) -> None:
    from bertsent.cli import main

    output = tmp_path / "model"
    command = ["-q", "train", "--method", "tfidf-lr", "--data", str(dataset_dir),
               "--augment", "contrast", "--output", str(output)]  # fmt: skip
    assert main(command) == 0
    metadata = json.loads((output / "bertsent.json").read_text())
    assert metadata["data"]["augmented"]["kinds"] == ["contrast"]
    seen = np.load(output / "train_texts.npy", allow_pickle=False)
    generated = [text for text, _ in contrast_examples(seed=42)]
    assert np.isin(text_hashes(generated), seen).all()


def test_auto_adds_template_kinds_to_two_sided_label_sets_and_graded_ones_to_scales() -> None:
    from bertsent.data.augment import DEFAULT_AUGMENTATION, resolve_augmentation

    assert resolve_augmentation("auto", ["fresh", "rotten"]) == DEFAULT_AUGMENTATION
    assert resolve_augmentation("auto", list(FIVE_POINT)) == ("intensity",)
    assert resolve_augmentation("auto", ["1", "2", "3", "4", "5"]) == ("intensity",)
    # measured on five classes only: not on 3, 4, or 77 numbered class ids
    assert resolve_augmentation("auto", ["negative", "neutral", "positive"]) == ()
    assert resolve_augmentation("auto", ["1", "2", "3", "4"]) == ()
    assert resolve_augmentation("auto", [str(i) for i in range(77)]) == ()
    assert resolve_augmentation("auto", list(FIVE_POINT), fine_grained=False) == ()
    assert resolve_augmentation("auto", ["joy", "anger", "fear"]) == ()
    assert resolve_augmentation("none", ["fresh", "rotten"]) == ()
    assert resolve_augmentation(("intensity",), ["fresh", "rotten"]) == ("intensity",)


def two_sided_splits(train_size: int) -> DatasetSplits:
    labels = ["positive", "negative"] * (train_size // 2)
    train = Split("train", [f"review number {i}" for i in range(train_size)], labels)
    dev = Split("dev", ["a fine film", "a dull film"], ["positive", "negative"])
    return DatasetSplits("toy", train=train, dev=dev)


@pytest.mark.parametrize(
    ("train_size", "expected_kinds"),
    [(400, None), (7000, ["contrast", "intensity", "sarcasm"])],
)
def test_auto_adds_examples_only_while_they_stay_a_minority(
    train_size: int, expected_kinds: list[str] | None
) -> None:
    from bertsent.data.augment import MAX_GENERATED_SHARE, augment_for_training

    splits = two_sided_splits(train_size)
    trained_on, record = augment_for_training(splits, "auto", seed=3)
    if expected_kinds is None:
        assert record is None and trained_on is splits
    else:
        assert record is not None and record["kinds"] == expected_kinds
        assert len(trained_on.train) == train_size + record["added"]
        assert record["added"] <= MAX_GENERATED_SHARE * train_size
        assert trained_on.dev is splits.dev
    # an explicit request is honoured whatever the size
    _, explicit = augment_for_training(splits, ("intensity",), seed=3)
    assert explicit is not None and explicit["kinds"] == ["intensity"]


@pytest.mark.parametrize(("train_size", "graded"), [(2000, False), (3000, True)])
def test_auto_adds_graded_wording_to_a_scale_while_it_stays_a_minority(
    train_size: int, graded: bool
) -> None:
    from bertsent.data.augment import augment_for_training

    labels = [FIVE_POINT[i % 5] for i in range(train_size)]
    train = Split("train", [f"review number {i}" for i in range(train_size)], labels)
    splits = DatasetSplits("stars", train=train, dev=Split("dev", ["a film"], ["neutral"]))
    trained_on, record = augment_for_training(splits, "auto", seed=3)
    # a model asked to be single-label has no intensity score to order
    assert augment_for_training(splits, "auto", seed=3, task="single-label") == (splits, None)
    assert augment_for_training(splits, "auto", seed=3, task="multi-label") == (splits, None)
    if not graded:  # 1,440 graded examples would be more than half of 2,000 reviews
        assert record is None and trained_on is splits
        return
    assert record == {"kinds": ["intensity"], "added": len(graded_examples(seed=3))}
    added = trained_on.train.labels[train_size:]
    assert set(added) == set(FIVE_POINT) and trained_on.dev is splits.dev


def test_auto_leaves_the_baselines_on_real_reviews(tmp_path: Path) -> None:
    from bertsent.data.augment import augment_for_training
    from bertsent.pipeline import train

    splits = two_sided_splits(6000)
    assert augment_for_training(splits, "auto", encoder=False) == (splits, None)
    run = train(splits, output_dir=tmp_path / "model", method="bow-svm")
    assert len(run.data.train) == 6000
    assert (
        json.loads((tmp_path / "model" / "bertsent.json").read_text())["data"]["augmented"] is None
    )
    explicit = train(splits, output_dir=tmp_path / "asked", method="bow-svm", augment=("contrast",))
    assert len(explicit.data.train) > 6000
