from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import bertsent
from bertsent.data import DatasetSplits
from bertsent.errors import DataError
from bertsent.inference.files import predict_file
from bertsent.training.config import TrainingConfig
from bertsent.training.run import train
from tests.conftest import write_csv


@pytest.fixture(scope="module")
def model(
    tiny_model_dir: Path, synthetic_splits: DatasetSplits, tmp_path_factory: pytest.TempPathFactory
) -> bertsent.BertClassifier:
    config = TrainingConfig(model=str(tiny_model_dir), epochs=1, batch_size=16, max_length=32)
    return train(synthetic_splits, config, tmp_path_factory.mktemp("m") / "model").model


@pytest.mark.parametrize("out_suffix", [".csv", ".jsonl", ".parquet"])
def test_scored_file_keeps_rows_columns_and_order(
    model: bertsent.BertClassifier, tmp_path: Path, out_suffix: str
) -> None:
    rows = [
        {"id": str(i), "text": f"review number {i} was {'great' if i % 2 else 'awful'}"}
        for i in range(50)
    ]
    source = write_csv(tmp_path / "in.csv", rows)
    target = tmp_path / f"out{out_suffix}"
    assert predict_file(model, source, target, chunk_size=7, progress=False) == 50
    if out_suffix == ".parquet":
        scored = pq.read_table(target).to_pylist()
    elif out_suffix == ".jsonl":
        scored = [json.loads(line) for line in target.read_text().splitlines()]
    else:
        import csv

        scored = list(csv.DictReader(target.open()))
    assert [r["id"] for r in scored] == [str(i) for i in range(50)]
    expected = model.predict([r["text"] for r in rows])
    assert [r["label"] for r in scored] == expected
    if out_suffix == ".jsonl":
        assert set(scored[0]["scores"]) == set(model.labels_)
    else:
        assert {f"score_{label}" for label in model.labels_} <= set(scored[0])


def test_parquet_input(model: bertsent.BertClassifier, tmp_path: Path) -> None:
    source = tmp_path / "in.parquet"
    pq.write_table(pa.table({"review": ["great", "awful"], "n": [1, 2]}), source)
    target = tmp_path / "out.jsonl"
    predict_file(model, source, target, text_column="review", progress=False)
    assert [json.loads(x)["n"] for x in target.read_text().splitlines()] == [1, 2]


def test_bad_row_leaves_no_partial_output(model: bertsent.BertClassifier, tmp_path: Path) -> None:
    rows = [{"text": "fine"}] * 30 + [{"text": ""}]
    source = write_csv(tmp_path / "in.csv", rows)
    target = tmp_path / "out.csv"
    with pytest.raises(DataError, match=r"in.csv line 32: field 'text' is empty"):
        predict_file(model, source, target, chunk_size=10, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]
