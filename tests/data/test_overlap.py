"""SST phrases that share a span with Rotten Tomatoes dev/test snippets are removed."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from bertsent.data import DatasetSplits, Split, load_dataset
from bertsent.data.overlap import SpanFilter, span_words, without_overlap
from bertsent.data.splits import normalise_text, text_hashes
from bertsent.data.tasks import join_aspect


def test_the_two_tokenisations_give_the_same_words() -> None:
    assert span_words("it 's not that it does n't -lrb- quite -rrb- work .") == span_words(
        "It's not that it doesn't (quite) work."
    )
    assert span_words("ca n't miss") == span_words("Can't miss")


def test_spans_in_either_direction_are_found_on_whole_words() -> None:
    check = SpanFilter.of(["It's a charming, funny journey.", "A dull mess."])
    assert check.overlaps("charming , funny")  # a span of a protected snippet
    assert check.overlaps("it 's a charming , funny journey .")  # the snippet itself
    assert check.overlaps("sadly , a dull mess .")  # holds a protected snippet whole
    assert not check.overlaps("heart")  # "art" or "hear" inside words do not count
    assert not check.overlaps("a charming mess")  # words of both, but no shared span
    assert not check.overlaps("   ")


def test_phrases_cut_inside_a_word_or_glued_by_the_scrape_are_found() -> None:
    """302 long SST phrases of Rotten Tomatoes dev/test snippets were kept: a phrase
    starting with a clitic, "can not", and the scrape's glued words hid them."""
    check = SpanFilter.of([
        "It's an exhilarating place to visit, this laboratory of laughter.",
        "So sloppily written and cast that you cannot believe anyone saw it.",
        "Driven by a fantastic dual performance from Ian Holmthe film works.",
    ])  # fmt: skip
    assert check.overlaps("'s an exhilarating place to visit , this laboratory of laughter .")
    assert check.overlaps("so sloppily written and cast that you can not believe")
    assert check.overlaps("driven by a fantastic dual performance from ian holm")
    assert not check.overlaps("a fantastic dual performance from someone else entirely")
    # under 20 letters, so found by their words alone
    assert check.overlaps("'s an exhilarating") and check.overlaps("you can not believe")


def test_aspect_pairs_are_compared_by_their_sentence_whatever_the_aspect() -> None:
    check = SpanFilter.of([join_aspect("The screen is gorgeous but the battery dies", "battery")])
    assert check.overlaps(join_aspect("The screen is gorgeous but the battery dies", "screen"))
    assert check.overlaps("the battery dies")  # a plain phrase inside the protected sentence
    assert not check.overlaps(join_aspect("The keyboard is fine", "battery"))  # aspect alone


def test_a_scrape_that_lost_a_dash_still_matches_the_parsed_sentence() -> None:
    check = SpanFilter.of(["Third time's the charmyeah, baby!"])  # as Rotten Tomatoes has it
    assert check.overlaps("third time 's the charm -- yeah , baby !")  # as SST has it


def test_without_overlap_filters_train_and_dev_and_says_so() -> None:
    splits = DatasetSplits(
        "phrases",
        train=Split("train", ["charming", "a dull mess", "superb acting"], ["p", "n", "p"]),
        dev=Split("dev", ["a dull mess .", "witty"], ["n", "p"]),
    )
    filtered, removed = without_overlap(splits, ["A charming film.", "A dull mess."], "rt")
    assert filtered.train.texts == ["superb acting"] and filtered.dev.texts == ["witty"]
    assert removed == {"train": 2, "dev": 1}
    assert "removed 2 train and 1 dev" in filtered.notes[-1]


@pytest.mark.slow
def test_no_sst_phrase_left_shares_a_span_with_rotten_tomatoes_evaluation(
    shared_data: Path,
) -> None:
    """Checked independently of the filter: whole-word substring search in the snippets."""
    rotten = load_dataset("rotten-tomatoes")
    assert rotten.test is not None
    protected = [*rotten.dev.texts, *rotten.test.texts]
    sst = load_dataset(str(shared_data / "sst2"))
    filtered, removed = without_overlap(sst, protected, "rotten-tomatoes")
    assert removed["train"] > 10_000  # SST holds pieces of most snippets
    kept_hashes = text_hashes([*filtered.train.texts, *filtered.dev.texts])
    assert not np.isin(text_hashes(protected), kept_hashes).any()  # what evaluate checks

    snippets = "|".join(" " + " ".join(span_words(text)) + " " for text in protected)
    kept = random.Random(0).sample(filtered.train.texts, 3000) + filtered.dev.texts
    letters = "|".join(normalise_text(text) for text in protected)
    for phrase in kept:
        words = " ".join(span_words(phrase))
        assert f" {words} " not in snippets, phrase  # not a span of any snippet
        # nor, for a long phrase, inside one by its letters alone (a check that does not
        # go through span_words: words glued or split otherwise)
        own = normalise_text(phrase)
        assert len(own) < 20 or own not in letters, phrase
    whole = {normalise_text(text) for text in protected}
    dropped = set(sst.train.texts) - set(filtered.train.texts)
    for phrase in random.Random(1).sample(sorted(dropped), 300):
        words = " ".join(span_words(phrase))
        inside = f" {words} " in snippets
        holds = any(f" {' '.join(span_words(text))} " in f" {words} " for text in protected)
        equal = normalise_text(phrase) in whole  # e.g. the scrape's lost dashes
        glued = len(normalise_text(phrase)) >= 20 and normalise_text(phrase) in letters
        assert inside or holds or equal or glued, phrase


def test_train_records_what_it_excluded_and_never_sees_it(
    dataset_dir: Path, tmp_path: Path
) -> None:
    import csv
    import json

    from bertsent.cli import main
    from tests.conftest import write_csv

    with (dataset_dir / "train.csv").open(encoding="utf-8", newline="") as handle:
        train_texts = [row["text"] for row in csv.DictReader(handle)]
    protected = tmp_path / "protected"  # its dev holds 5 of our training texts
    for split, texts in {"train": ["x y z", "q r"] * 4, "dev": train_texts[:5]}.items():
        rows = [{"text": t, "label": "ab"[i % 2]} for i, t in enumerate(texts)]
        write_csv(protected / f"{split}.csv", rows)
    output = tmp_path / "model"
    command = ["-q", "train", "--method", "tfidf-lr", "--data", str(dataset_dir),
               "--exclude-overlap-with", str(protected), "--output", str(output)]  # fmt: skip
    assert main(command) == 0
    metadata = json.loads((output / "bertsent.json").read_text())
    excluded = metadata["data"]["excluded_overlap"]
    assert excluded["with"] == str(protected) and excluded["removed"]["train"] >= 5
    seen = np.load(output / "train_texts.npy", allow_pickle=False)
    assert not np.isin(text_hashes(train_texts[:5]), seen).any()


def test_distill_texts_that_share_a_span_with_the_protected_texts_are_refused(
    dataset_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--exclude-overlap-with filtered the labelled data only: the teacher-labelled
    --distill-texts were trained on as they were."""
    from bertsent.cli import main
    from tests.conftest import write_csv

    protected = tmp_path / "protected"
    splits = {"train": ["x y z", "q r"] * 4, "dev": ["a gripping, tender film"] * 4}
    for split, texts in splits.items():
        rows = [{"text": t, "label": "ab"[i % 2]} for i, t in enumerate(texts)]
        write_csv(protected / f"{split}.csv", rows)
    texts = [{"text": "I liked it."}, {"text": "A gripping, tender film!"}]
    unlabelled = write_csv(tmp_path / "unlabelled.csv", texts)
    output = tmp_path / "student"
    command = ["-q", "train", "--data", str(dataset_dir), "--teacher", str(tmp_path / "t"),
               "--distill-texts", str(unlabelled), "--exclude-overlap-with", str(protected),
               "--output", str(output)]  # fmt: skip
    assert main(command) == 2
    error = capsys.readouterr().err
    assert "1 of its 2 texts share a span with protected's dev/test texts" in error
    assert "A gripping, tender film!" in error and not output.exists()


def test_copies_of_a_text_stay_in_one_part_of_a_split_made_here() -> None:
    """SST's phrases repeat: a single file split 80/10/10 put a fifth of its test texts
    in train too, once case and punctuation were ignored."""
    from bertsent.data.splits import Split, stratified_split

    texts, labels = [], []
    for i in range(300):
        label = "positive" if i % 2 else "negative"
        for copy in (
            f"Review {i}, a fine one.",
            f"review {i} a fine one",
            f"REVIEW {i}: A FINE ONE!",
        ):
            if i % 3 == 0 or copy.startswith("Review"):  # a third of the texts come thrice
                texts.append(copy)
                labels.append(label)
    parts = stratified_split(Split("all", texts, labels), (0.8, 0.1, 0.1), ("a", "b", "c"), 42)
    seen = [set(text_hashes(part.texts).tolist()) for part in parts]
    assert not (seen[0] & seen[1]) and not (seen[0] & seen[2]) and not (seen[1] & seen[2])
    assert sum(len(part) for part in parts) == len(texts)
    assert [round(len(part) / len(texts), 1) for part in parts] == [0.8, 0.1, 0.1]
    # copies with different labels too (SST repeats a phrase under both)
    twice = [f"phrase {i}" for i in range(100)] * 2
    parts = stratified_split(Split("all", twice, ["pos"] * 100 + ["neg"] * 100),
                             (0.8, 0.1, 0.1), ("a", "b", "c"), 1)  # fmt: skip
    seen = [set(text_hashes(part.texts).tolist()) for part in parts]
    assert not (seen[0] & seen[1]) and not (seen[0] & seen[2]) and not (seen[1] & seen[2])
    # a class that is mostly one text keeps a place in every part: cut by rows there
    texts = ["great"] * 60 + [f"fine {i}" for i in range(40)] + [f"dull {i}" for i in range(100)]
    for seed in range(5):
        parts = stratified_split(Split("all", texts, ["pos"] * 100 + ["neg"] * 100),
                                 (0.8, 0.1, 0.1), ("a", "b", "c"), seed)  # fmt: skip
        assert all(set(part.labels) == {"pos", "neg"} for part in parts), seed
