"""Shared fixtures: a tiny random BERT built once per session, small datasets, shared data."""

from __future__ import annotations

import csv
import random
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

import pytest

from bertsent.data import DEFAULT_DATASET, DatasetSplits, Split, load_dataset
from bertsent.encoders.pretrained import DEFAULT_MODEL, resolve_model
from bertsent.models.base import SentimentClassifier

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

# Debian's chromium, driven by Playwright, for pages a person would open
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


class FixedClassifier(SentimentClassifier):
    """A classifier whose probabilities a test writes by hand (``predict_proba``): it
    learns nothing and is never saved."""

    fitted_attribute = "labels_"

    def fit(self, texts: Sequence[str], labels: Sequence[str], **_: Any) -> Self:
        return self

    def count_parameters(self) -> int:
        return 0

    def _write_model(self, folder: Path) -> None:
        raise NotImplementedError

    @classmethod
    def _from_saved(cls, path: Path, metadata: dict[str, Any], **options: Any) -> Self:
        raise NotImplementedError


POSITIVE = ["great", "wonderful", "superb", "moving", "delightful", "brilliant", "charming", "fun"]
NEGATIVE = ["awful", "boring", "dreadful", "dull", "tedious", "clumsy", "lifeless", "mess"]
FILLER = ["the", "film", "movie", "story", "acting", "plot", "was", "is", "really", "quite", "a"]


def synthetic_reviews(n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """Short reviews whose label is decided by one sentiment word: learnable in seconds."""
    rng = random.Random(seed)
    texts, labels = [], []
    for i in range(n):
        label = "positive" if i % 2 == 0 else "negative"
        word = rng.choice(POSITIVE if label == "positive" else NEGATIVE)
        words = [*rng.sample(FILLER, rng.randint(2, 8)), word]
        rng.shuffle(words)
        texts.append(" ".join(words))
        labels.append(label)
    return texts, labels


def tiny_classifier(**head_options: Any) -> Any:
    """A seeded 1-layer random BERT under our [CLS] head, in eval mode, without dropout."""
    import torch
    import transformers

    from bertsent.encoders.heads import ClsLinearClassifier

    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=100, hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
        intermediate_size=64,
    )  # fmt: skip
    encoder = transformers.AutoModel.from_config(config)
    return ClsLinearClassifier(encoder, num_labels=2, dropout=0.0, **head_options).eval()


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised 2-layer BERT with the real uncased WordPiece tokenizer."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    folder = tmp_path_factory.mktemp("tiny-bert")
    tokenizer = AutoTokenizer.from_pretrained(resolve_model(DEFAULT_MODEL))
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    # seeded: unseeded, the weights would depend on how much of the global random stream
    # the tests before the first user drew, and the tests that check that a tiny model
    # learned the synthetic reviews (accuracy > 0.8) would pass or fail by test order
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = BertModel(config)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def synthetic_splits() -> DatasetSplits:
    train_texts, train_labels = synthetic_reviews(160, seed=1)
    dev_texts, dev_labels = synthetic_reviews(40, seed=2)
    test_texts, test_labels = synthetic_reviews(40, seed=3)
    return DatasetSplits(
        name="synthetic",
        train=Split("train", train_texts, train_labels),
        dev=Split("dev", dev_texts, dev_labels),
        test=Split("test", test_texts, test_labels),
    )


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"needs the public datasets in {SHARED_DATA} (absent in a fresh clone)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def dataset_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Synthetic train/dev/test CSV files in one folder."""
    folder = tmp_path_factory.mktemp("data")
    for split, (n, seed) in {"train": (160, 1), "dev": (40, 2), "test": (40, 3)}.items():
        texts, labels = synthetic_reviews(n, seed)
        write_csv(
            folder / f"{split}.csv",
            [{"text": t, "label": y} for t, y in zip(texts, labels, strict=True)],
        )
    return folder


@pytest.fixture(scope="session")
def trained_model_dir(
    tiny_model_dir: Path, dataset_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The tiny BERT fine-tuned on synthetic reviews through the CLI, saved once per session."""
    from bertsent.cli import main

    output = tmp_path_factory.mktemp("cli") / "model"
    code = main(
        [
            "-q",
            "train",
            "--data",
            str(dataset_dir),
            "--model",
            str(tiny_model_dir),
            "--output",
            str(output),
            "--epochs",
            "5",
            "--batch-size",
            "16",
            "--learning-rate",
            "3e-3",
            "--max-length",
            "32",
        ]
    )
    assert code == 0
    return output


@pytest.fixture
def rotten_tomatoes_slice(monkeypatch: pytest.MonkeyPatch) -> DatasetSplits:
    """The demo's own data (same name, labels and texts) cut to 240/80/80 reviews."""
    full = load_dataset(DEFAULT_DATASET)
    assert full.test is not None
    small = DatasetSplits(
        full.name,
        train=full.train.subset(range(240)),
        dev=full.dev.subset(range(80)),
        test=full.test.subset(range(80)),
        notes=full.notes,
    )
    assert set(small.train.labels) == {"fresh", "rotten"}
    import bertsent.demo

    monkeypatch.setattr(bertsent.demo, "DEFAULT_DATASET", small)
    return small


@pytest.fixture
def two_gpus_in_one_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Trainer's GPU count forced to 2, as on a 2-GPU machine without a launcher: the
    Trainer then wraps the model in DataParallel, which on a machine without a GPU calls
    the model directly, so the path runs on any machine."""
    from transformers import TrainingArguments

    monkeypatch.setattr(TrainingArguments, "n_gpu", property(lambda self: 2))
