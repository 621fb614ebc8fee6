from __future__ import annotations

import bz2
import csv
import io
import socket
from pathlib import Path

import pytest

from bertsent.data import load_dataset, read_unlabelled, rotten_tomatoes
from bertsent.errors import DataError, HubUnavailableError
from tests.conftest import synthetic_reviews, write_csv


def test_rotten_tomatoes_split_by_movie_is_complete_and_deterministic() -> None:
    splits = load_dataset("rotten-tomatoes")
    sizes = [len(splits.train), len(splits.dev), len(splits.test or [])]
    assert sum(sizes) == 12808
    assert splits.labels == ["fresh", "rotten"]
    assert abs(sizes[0] / 12808 - 0.8) < 0.01 and abs(sizes[1] / 12808 - 0.1) < 0.01
    assert load_dataset("rotten-tomatoes").fingerprint() == splits.fingerprint()

    with bz2.open(rotten_tomatoes.corpus_path(), "rb") as handle:
        rows = list(csv.DictReader(io.TextIOWrapper(handle, encoding="utf-8")))
    # a row is named by its number among the file's data rows, plot rows counted (an
    # error's "row 3406" was the 4,503rd when the 1,097 plot rows were skipped)
    by_origin = {f"rotten_tomatoes_corpus_full.csv.bz2 row {n}": r for n, r in enumerate(rows, 1)}
    parts = (splits.train, splits.dev, splits.test)
    for split in parts:
        pairs = zip(split.origins, split.texts, strict=True)
        assert all(by_origin[origin]["text"] == text for origin, text in pairs)
    movies = [{by_origin[o]["movie_name"] for o in split.origins} for split in parts]
    assert not movies[0] & movies[1] and not movies[0] & movies[2] and not movies[1] & movies[2]


def test_single_file_is_split_with_seed(tmp_path: Path) -> None:
    texts, labels = synthetic_reviews(200)
    path = write_csv(
        tmp_path / "reviews.csv",
        [{"text": t, "label": y} for t, y in zip(texts, labels, strict=True)],
    )
    first = load_dataset(str(path), seed=3)
    again = load_dataset(str(path), seed=3)
    other = load_dataset(str(path), seed=4)
    assert (len(first.train), len(first.dev), len(first.test or [])) == (160, 20, 20)
    assert first.fingerprint() == again.fingerprint() != other.fingerprint()
    assert first.dev.label_counts() == {"negative": 10, "positive": 10}


def test_custom_columns_and_tsv(tmp_path: Path) -> None:
    path = tmp_path / "reviews.tsv"
    lines = ["review\tstars"] + [f"{t}\t{y}" for t, y in zip(*synthetic_reviews(50), strict=True)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    splits = load_dataset(str(path), text_column="review", label_column="stars")
    assert splits.labels == ["negative", "positive"]


def test_duplicates_between_train_and_dev_are_counted(tmp_path: Path) -> None:
    rows = [
        {"text": t, "label": y}
        for t, y in [("good", "pos"), ("fine", "pos"), ("bad", "neg"), ("poor", "neg")]
    ]
    write_csv(tmp_path / "train.csv", rows)
    write_csv(
        tmp_path / "dev.csv", [{"text": "good", "label": "pos"}, {"text": "new", "label": "neg"}]
    )
    splits = load_dataset(str(tmp_path))
    assert splits.overlap_with_train() == {"dev": 1}
    assert splits.summary()["duplicates_of_train"] == {"dev": 1}


def test_two_files_for_one_split_are_refused_not_one_picked_by_listing_order(
    tmp_path: Path,
) -> None:
    rows = [{"text": t, "label": y} for t, y in zip(*synthetic_reviews(40), strict=True)]
    write_csv(tmp_path / "train.csv", rows)
    (tmp_path / "train.tsv").write_text("text\tlabel\nold\tpositive\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"both train\.csv and train\.tsv could be the 'train'"):
        load_dataset(str(tmp_path))
    with pytest.raises(DataError, match=r"both train\.csv and train\.tsv"):
        read_unlabelled(str(tmp_path))
    texts = tmp_path / "texts"  # files of texts to pre-train on may share a stem
    write_csv(texts / "reviews.csv", [{"text": "a fine film"}])
    (texts / "reviews.jsonl").write_text('{"text": "a dull film"}\n', encoding="utf-8")
    assert sorted(read_unlabelled(str(texts))[0]) == ["a dull film", "a fine film"]


def test_pretraining_texts_of_a_dataset_folder_need_no_label_column(tmp_path: Path) -> None:
    """Only the training texts are read (the dev ones stay unseen); labels, under any
    column name or none, are not needed, nor enough of them to split."""
    write_csv(tmp_path / "train.csv", [{"text": "a fine film", "sentiment": "up"}] * 3)
    write_csv(tmp_path / "dev.csv", [{"text": "a dull film", "sentiment": "down"}])
    texts, what = read_unlabelled(str(tmp_path))
    assert texts == ["a fine film"] * 3 and what == f"the 3 training texts of {tmp_path}"


def test_pretraining_skips_the_dev_that_training_carves_beside_a_test_file(
    tmp_path: Path,
) -> None:
    rows = [{"text": t, "label": y} for t, y in zip(*synthetic_reviews(60), strict=True)]
    write_csv(tmp_path / "train.csv", rows[:50])
    write_csv(tmp_path / "test.csv", rows[50:])
    splits = load_dataset(str(tmp_path))
    texts, _ = read_unlabelled(str(tmp_path))
    assert sorted(texts) == sorted(splits.train.texts)  # not the carved dev, nor test
    assert not set(texts) & set(splits.dev.texts) and len(texts) < 50
    write_csv(tmp_path / "test.csv", [{"text": "a competition's unlabelled review"}])
    assert read_unlabelled(str(tmp_path))[0] == texts  # the test file is not read


def test_a_folder_with_all_csv_is_split_and_a_test_file_beside_it_is_not_ignored(
    tmp_path: Path,
) -> None:
    rows = [{"text": t, "label": y} for t, y in zip(*synthetic_reviews(60), strict=True)]
    write_csv(tmp_path / "all.csv", rows[:50])
    splits = load_dataset(str(tmp_path))
    assert len(splits.train) + len(splits.dev) + len(splits.test or []) == 50
    write_csv(tmp_path / "test.csv", rows[50:])
    with pytest.raises(DataError, match=r"all\.csv is split 80/10/10, so test\.csv beside"):
        load_dataset(str(tmp_path))


def test_hub_loader_reads_a_local_copy(tmp_path: Path) -> None:
    """`hub:NAME` goes through datasets.load_dataset, which also accepts a local dataset folder."""
    pytest.importorskip("datasets")
    texts, labels = synthetic_reviews(60)
    rows = [{"text": t, "label": y} for t, y in zip(texts, labels, strict=True)]
    write_csv(tmp_path / "local-hub" / "train.csv", rows[:50])
    write_csv(tmp_path / "local-hub" / "test.csv", rows[50:])
    splits = load_dataset(f"hub:{tmp_path / 'local-hub'}")
    assert len(splits.train) + len(splits.dev) == 50 and len(splits.test or []) == 10
    assert "dev carved from train" in splits.notes[-1]


def test_a_hub_folder_under_home_and_lists_of_class_ids_are_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`hub:~/folder` is the user's folder, not a Hub id named '~/folder'; a list of
    ClassLabel ids (GoEmotions' `labels`) is a multi-label cell, not a class "[0, 2]"."""
    datasets = pytest.importorskip("datasets")
    names = ["anger", "joy", "surprise"]
    features = datasets.Features(
        {
            "text": datasets.Value("string"),
            "labels": datasets.Sequence(datasets.ClassLabel(names=names)),
        }
    )
    ids = [[1, 2], [0], [1]] * 20
    texts = [f"review {i}" for i in range(len(ids))]
    folder = tmp_path / "emotions"
    folder.mkdir()
    table = datasets.Dataset.from_dict({"text": texts, "labels": ids}, features=features)
    table.to_parquet(str(folder / "train.parquet"))
    monkeypatch.setenv("HOME", str(tmp_path))
    splits = load_dataset("hub:~/emotions", label_column="labels")
    assert splits.labels == ["anger", "joy", "surprise"]
    read = dict(
        zip(
            splits.train.texts + splits.dev.texts,
            splits.train.labels + splits.dev.labels,
            strict=True,
        )
    )
    assert read["review 0"] == "joy;surprise" and read["review 1"] == "anger"


def test_hub_rows_without_a_label_are_refused_by_row_not_made_a_class(tmp_path: Path) -> None:
    pytest.importorskip("datasets")
    texts, labels = synthetic_reviews(30)
    rows = [{"text": t, "label": y} for t, y in zip(texts, labels, strict=True)]
    rows[4]["label"] = ""  # an empty csv cell: None to `datasets`, "None" to str()
    write_csv(tmp_path / "local-hub" / "train.csv", rows)
    with pytest.raises(DataError, match=r"hub:.*local-hub \[train\] row 5: field 'label' is empty"):
        load_dataset(f"hub:{tmp_path / 'local-hub'}")


def test_hub_lists_of_names_aspects_and_unlabelled_rows_are_read_as_files_are(
    tmp_path: Path,
) -> None:
    """A list of label names is a multi-label cell (not the class "['joy']"), an aspect
    column makes an aspect dataset, and rows after unlabelled (-1) ones keep their number."""
    datasets = pytest.importorskip("datasets")
    named = datasets.Dataset.from_dict(
        {"text": [f"review {i}" for i in range(40)], "labels": [["joy", "fear"], ["joy"]] * 20}
    )
    named.to_parquet(str(tmp_path / "names" / "train.parquet"))
    splits = load_dataset(f"hub:{tmp_path / 'names'}", label_column="labels")
    assert splits.labels == ["fear", "joy"] and "joy;fear" in splits.train.labels
    judged = [("screen", "pos"), ("battery", "neg")]
    rows = [{"text": f"The screen is gorgeous but the battery dies, day {i}", "aspect": aspect,
             "label": label} for i in range(20) for aspect, label in judged]  # fmt: skip
    write_csv(tmp_path / "aspects" / "train.csv", rows)
    splits = load_dataset(f"hub:{tmp_path / 'aspects'}")
    assert len(splits.train) + len(splits.dev) == 40 and len(splits.dev) > 0
    assert "The screen is gorgeous but the battery dies, day 0 [SEP] screen" in {
        *splits.train.texts,
        *splits.dev.texts,
    }
    # a dev carved by sentence: no sentence with one aspect in train and another in dev
    sentences = [{text.split(" [SEP] ")[0] for text in part.texts}
                 for part in (splits.train, splits.dev)]  # fmt: skip
    assert not sentences[0] & sentences[1]
    features = datasets.Features(
        {"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["neg", "pos"])}
    )
    texts = [" " if i % 5 == 1 else f"review {i}" for i in range(20)]  # blank ones unlabelled
    labelled = {"text": texts, "label": [-1, -1, 0, 1, 0] * 4}
    table = datasets.Dataset.from_dict(labelled, features=features)
    table.to_parquet(str(tmp_path / "glue" / "train.parquet"))
    splits = load_dataset(f"hub:{tmp_path / 'glue'}")
    origins = dict(zip(splits.train.texts + splits.dev.texts,
                       splits.train.origins + splits.dev.origins, strict=True))  # fmt: skip
    assert len(origins) == 12 and origins["review 7"].endswith("[train] row 8")


def test_a_missing_local_hub_folder_is_not_called_a_network_problem(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"hub:.*nowhere: no such local dataset folder"):
        load_dataset(f"hub:{tmp_path / 'nowhere'}")


def test_hub_unreachable_gives_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    from huggingface_hub import constants

    # HF_HUB_OFFLINE / HF_DATASETS_OFFLINE are read once, at import (an earlier test may
    # have imported these libraries already): switch the constants they set instead
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "datasets")
    attempts: list[object] = []

    def refuse(host: object, *args: object, **kwargs: object) -> None:
        attempts.append(host)
        raise RuntimeError(f"offline test tried to reach {host}")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    with pytest.raises(HubUnavailableError) as caught:
        load_dataset("hub:stanfordnlp/imdb")
    assert caught.value.message.startswith(
        "dataset 'hub:stanfordnlp/imdb' could not be loaded from the Hugging Face Hub ("
    )
    assert caught.value.hint == (
        "check the network, or download it once and set HF_DATASETS_OFFLINE=1"
    )
    assert attempts == []  # offline: answered from the (empty) cache, not the network


@pytest.mark.shared_data
@pytest.mark.parametrize(
    ("name", "sizes"),
    [
        ("sst2", (67349, 872)),
        ("sst-binary", (6920, 872)),
        ("sst-fine", (8544, 1101)),
        ("imdb", (22500, 2500)),
        ("mr", (8530, 1066)),
        ("cr", (3017, 376)),
    ],
)
def test_shared_datasets_load(shared_data: Path, name: str, sizes: tuple[int, int]) -> None:
    splits = load_dataset(str(shared_data / name))
    assert (len(splits.train), len(splits.dev)) == sizes


def test_data_too_small_to_split_names_the_file_and_the_rows_needed(tmp_path: Path) -> None:
    from bertsent.data import DatasetSplits, Split
    from bertsent.data.splits import validate
    from bertsent.errors import DataError

    rows = [{"text": t, "label": y} for t, y in zip(*synthetic_reviews(4), strict=True)]
    path = write_csv(tmp_path / "four.csv", rows)
    with pytest.raises(DataError, match=r"four\.csv: 4 rows .* at least 8 rows"):
        load_dataset(str(path))
    eight_each = [{"text": t, "label": y} for t, y in zip(*synthetic_reviews(16), strict=True)]
    assert len(load_dataset(str(write_csv(tmp_path / "sixteen.csv", eight_each))).dev) == 2

    write_csv(tmp_path / "folder" / "train.csv", rows + rows[:2])  # 3 of each class
    with pytest.raises(DataError, match=r"train\.csv: 6 rows .* dev would be empty; .* 5 rows"):
        load_dataset(str(tmp_path / "folder"))

    texts, labels = synthetic_reviews(10)
    empty_dev = DatasetSplits("tiny", Split("train", texts, labels), Split("dev", [], []))
    with pytest.raises(DataError, match="tiny: the dev split is empty"):
        validate(empty_dev)


def test_labels_that_differ_only_in_case_are_refused_by_line(tmp_path: Path) -> None:
    """One "Positive" cell in a binary file made a three-class "fine-grained" model
    with two positives on its scale."""
    rows = [{"text": f"review {i}", "label": ["positive", "negative"][i % 2]} for i in range(20)]
    rows[7]["label"] = "Positive"
    rows[9]["label"] = "Positive"
    write_csv(tmp_path / "data" / "train.csv", rows)
    write_csv(tmp_path / "data" / "dev.csv", rows[:4])
    with pytest.raises(DataError, match=r"train\.csv line 9: label 'Positive' differs from"):
        load_dataset(str(tmp_path / "data"))
