from __future__ import annotations

import base64
import csv
import datetime
import decimal
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import bertsent
from bertsent.data import DatasetSplits
from bertsent.errors import ConfigError, DataError, OutputExistsError
from bertsent.inference.files import count_rows, predict_file
from bertsent.pipeline import TrainingRun, train
from bertsent.training.config import TrainingConfig
from tests.conftest import synthetic_reviews, write_csv


@pytest.fixture(scope="module")
def trained(
    tiny_model_dir: Path, synthetic_splits: DatasetSplits, tmp_path_factory: pytest.TempPathFactory
) -> TrainingRun:
    config = TrainingConfig(model=str(tiny_model_dir), epochs=1, batch_size=16, max_length=32)
    return train(synthetic_splits, config, tmp_path_factory.mktemp("m") / "model")


@pytest.fixture(scope="module")
def model(trained: TrainingRun) -> bertsent.BertClassifier:
    return trained.model


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


def test_the_output_is_on_the_disk_before_it_takes_its_name(
    model: bertsent.BertClassifier, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash just after the rename could leave a truncated file in place of the
    earlier output, with the parts to resume from already deleted."""
    import os

    synced: list[str] = []
    fsync = os.fsync

    def recorded(handle: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{handle}"))
        fsync(handle)

    monkeypatch.setattr(os, "fsync", recorded)
    source = write_csv(tmp_path / "in.csv", [{"text": "a superb film"}, {"text": "dull"}])
    target = tmp_path / "scored.csv"
    predict_file(model, source, target, progress=False)
    merged = [path for path in synced if path.endswith("merged.csv")]
    assert merged  # the finished file, before it is published
    last_folder_sync = len(synced) - 1 - synced[::-1].index(str(tmp_path))
    assert synced.index(merged[-1]) < last_folder_sync  # then its new name


def test_parquet_input(model: bertsent.BertClassifier, tmp_path: Path) -> None:
    source = tmp_path / "in.parquet"
    pq.write_table(pa.table({"review": ["great", "awful"], "n": [1, 2]}), source)
    target = tmp_path / "out.jsonl"
    predict_file(model, source, target, text_column="review", progress=False)
    assert [json.loads(x)["n"] for x in target.read_text().splitlines()] == [1, 2]


def test_parquet_dates_decimals_and_bytes_are_written_to_json_lines(
    model: bertsent.BertClassifier, tmp_path: Path
) -> None:
    """JSON has no such types: they were a TypeError traceback after the first chunk."""
    source = tmp_path / "in.parquet"
    columns = {
        "text": ["great", "awful"],
        "day": [datetime.date(2026, 12, 6), None],
        "at": [datetime.datetime(2026, 12, 6, 3, 4, 5), datetime.datetime(2026, 1, 1)],
        "price": pa.array([decimal.Decimal("9.99"), decimal.Decimal("0.50")], pa.decimal128(5, 2)),
        "raw": [b"\x00\xff", b"ok"],
    }
    pq.write_table(pa.table(columns), source)
    target = tmp_path / "out.jsonl"
    predict_file(model, source, target, progress=False)
    rows = [json.loads(line) for line in target.read_text().splitlines()]
    assert [row["day"] for row in rows] == ["2026-12-06", None]
    assert [row["at"] for row in rows] == ["2026-12-06T03:04:05", "2026-01-01T00:00:00"]
    assert [row["price"] for row in rows] == ["9.99", "0.50"]
    assert [base64.b64decode(row["raw"]) for row in rows] == [b"\x00\xff", b"ok"]


def test_bad_row_leaves_no_partial_output(model: bertsent.BertClassifier, tmp_path: Path) -> None:
    rows = [{"text": "fine"}] * 30 + [{"text": ""}]
    source = write_csv(tmp_path / "in.csv", rows)
    target = tmp_path / "out.csv"
    with pytest.raises(DataError, match=r"in.csv line 32: field 'text' is empty"):
        predict_file(model, source, target, chunk_size=10, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def test_an_aspect_column_is_refused_by_a_model_that_reads_the_text_alone(
    model: bertsent.BertClassifier, tmp_path: Path
) -> None:
    source = write_csv(tmp_path / "pairs.csv", [{"text": "the battery dies", "aspect": "battery"}])
    with pytest.raises(DataError, match=r"pairs\.csv: column 'aspect' names an aspect per row"):
        predict_file(model, source, tmp_path / "out.csv", progress=False)
    assert not (tmp_path / "out.csv").exists()


def test_the_separator_token_in_a_row_is_refused_by_line(
    model: bertsent.BertClassifier, tmp_path: Path
) -> None:
    rows = [{"text": "fine"}, {"text": "the screen [SEP] battery"}]
    source = write_csv(tmp_path / "sep.csv", rows)
    with pytest.raises(DataError, match=r"sep\.csv line 3: '\[SEP\]' is reserved in 'text'"):
        predict_file(model, source, tmp_path / "out.csv", progress=False)


@pytest.mark.parametrize("out_suffix", [".csv", ".parquet"])
def test_a_jsonl_row_with_a_field_the_first_row_lacks_is_refused_for_a_table_output(
    model: bertsent.BertClassifier, tmp_path: Path, out_suffix: str
) -> None:
    rows = [{"text": "great fun"}, {"text": "awful script", "id": 7}]
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    with pytest.raises(DataError, match=r"in.jsonl line 2: column 'id' not in the first row"):
        predict_file(model, source, tmp_path / f"out{out_suffix}", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]
    # jsonl output keeps each row's own fields
    predict_file(model, source, tmp_path / "out.jsonl", progress=False)
    scored = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [row.get("id") for row in scored] == [None, 7]


@pytest.mark.parametrize("out_suffix", [".csv", ".parquet"])
def test_a_field_a_later_chunk_starts_without_is_kept_for_its_other_rows(
    model: bertsent.BertClassifier, tmp_path: Path, out_suffix: str
) -> None:
    rows = [{"text": "great fun", "title": "T1"}, {"text": "awful", "title": "T2"},
            {"text": "dull"}, {"text": "lovely", "title": "T4"}]  # fmt: skip
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    output = tmp_path / f"out{out_suffix}"
    assert predict_file(model, source, output, chunk_size=2, progress=False) == 4
    titles = column_of(output, "title")
    assert titles[:2] + titles[3:] == ["T1", "T2", "T4"] and titles[2] in ("", None)


@pytest.mark.parametrize("out_suffix", [".csv", ".parquet"])
def test_every_unnamed_columns_values_are_kept(
    model: bertsent.BertClassifier, tmp_path: Path, out_suffix: str
) -> None:
    """A spreadsheet's export with blank header cells: each kept under its position
    (as one row's keys they were all "", and only the last value survived)."""
    source = tmp_path / "in.csv"
    source.write_text("text,,id,,column 4\ngreat fun,a,1,b,z\nawful,c,2,d,y\n")
    output = tmp_path / f"out{out_suffix}"
    assert predict_file(model, source, output, progress=False) == 2
    assert column_of(output, "column 2") == ["a", "c"]
    assert column_of(output, "column 4_") == ["b", "d"]  # "column 4" is taken
    assert column_of(output, "column 4") == ["z", "y"]
    # one blank cell stays blank, as in the input
    source.write_text("text,\ngreat fun,a\nawful,c\n")
    predict_file(model, source, output, progress=False, overwrite=True)
    assert column_of(output, "") == ["a", "c"]


def column_of(path: Path, name: str) -> list[Any]:
    if path.suffix == ".parquet":
        return pq.read_table(path).column(name).to_pylist()
    with path.open(encoding="utf-8", newline="") as handle:
        return [row[name] for row in csv.DictReader(handle)]


@pytest.mark.parametrize("chunk_size", [10, 2])  # the types clash in one part, or across two
def test_a_column_of_mixed_types_is_refused_by_name_for_parquet_output(
    model: bertsent.BertClassifier, tmp_path: Path, chunk_size: int
) -> None:
    rows = [{"text": "great fun", "id": 1}, {"text": "fine", "id": 2}, {"text": "bad", "id": "b7"}]
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    with pytest.raises(DataError, match="a column holds values of different types") as error:
        predict_file(model, source, tmp_path / "out.parquet", chunk_size=chunk_size, progress=False)
    # the chunk that brings the clash, found as it is scored (it was found at the final
    # merge, after every row was scored, naming the file alone)
    where = "in.jsonl line 1 to in.jsonl line 3" if chunk_size == 10 else "in.jsonl line 3 to"
    assert error.value.message.startswith(where)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]


class StopAfter:
    """The model, but Ctrl-C arrives as it starts scoring its ``batches + 1``-th chunk."""

    def __init__(self, model: bertsent.SentimentClassifier, batches: int) -> None:
        self.model, self.batches = model, batches
        self.labels_, self.method, self.task_ = model.labels_, model.method, model.task_

    def predict_scores(self, texts: list[str], digits: int | None = None) -> list[dict[str, Any]]:
        if self.batches == 0:
            raise KeyboardInterrupt
        self.batches -= 1
        return self.model.predict_scores(texts, digits=digits)


class NeverScores(StopAfter):
    """The model, for runs that must be refused before they score anything."""

    def __init__(self, model: bertsent.SentimentClassifier) -> None:
        super().__init__(model, 0)

    def predict_scores(self, texts: list[str], digits: int | None = None) -> list[dict[str, Any]]:
        pytest.fail("scoring started before the run was refused")


def reviews_csv(path: Path, n: int) -> Path:
    texts, _ = synthetic_reviews(n, seed=4)
    return write_csv(path, [{"id": str(i), "text": t} for i, t in enumerate(texts)])


@pytest.mark.parametrize("out_suffix", [".csv", ".jsonl", ".parquet"])
def test_interrupted_run_resumes_to_the_uninterrupted_output(
    model: bertsent.BertClassifier, tmp_path: Path, out_suffix: str
) -> None:
    source = reviews_csv(tmp_path / "in.csv", 50)
    whole, resumed = tmp_path / f"whole{out_suffix}", tmp_path / f"resumed{out_suffix}"
    predict_file(model, source, whole, chunk_size=7, progress=False)
    with pytest.raises(KeyboardInterrupt):
        predict_file(StopAfter(model, 3), source, resumed, chunk_size=7, progress=False)
    work = tmp_path / f"resumed{out_suffix}.partial"
    assert len(list(work.glob("part-*"))) == 3 and not resumed.exists()
    # 8 chunks, 3 done: a model that scores 5 more finishes only if those 3 are kept
    again = StopAfter(model, 5)
    assert predict_file(again, source, resumed, chunk_size=7, progress=False, resume=True) == 50
    assert resumed.read_bytes() == whole.read_bytes()
    assert not work.exists()


def test_leftover_work_folder_needs_resume(model: bertsent.BertClassifier, tmp_path: Path) -> None:
    source = reviews_csv(tmp_path / "in.csv", 30)
    target = tmp_path / "out.csv"
    with pytest.raises(KeyboardInterrupt):
        predict_file(StopAfter(model, 1), source, target, chunk_size=10, progress=False)
    work = tmp_path / "out.csv.partial"
    with pytest.raises(ConfigError, match="interrupted run") as error:
        predict_file(model, source, target, chunk_size=10, progress=False)
    assert error.value.hint == f"pass --resume to continue, or delete {work} to start over"
    assert len(list(work.glob("part-*"))) == 1  # nothing thrown away


def test_resume_with_changed_input_or_settings_is_refused(
    model: bertsent.BertClassifier, tmp_path: Path
) -> None:
    source = reviews_csv(tmp_path / "in.csv", 30)
    target = tmp_path / "out.parquet"
    with pytest.raises(KeyboardInterrupt):
        predict_file(StopAfter(model, 1), source, target, chunk_size=10, progress=False)
    with pytest.raises(DataError) as error:
        predict_file(model, source, target, chunk_size=5, progress=False, resume=True)
    assert error.value.message.endswith("differs from the interrupted one: chunk size 10 -> 5")
    with source.open("a") as handle:
        handle.write("30,one more review\n")
    with pytest.raises(DataError, match=r"input size in bytes \d+ -> \d+"):
        predict_file(model, source, target, chunk_size=10, progress=False, resume=True)
    assert (tmp_path / "out.parquet.partial" / "progress.json").is_file()


def test_resume_without_work_folder_starts_afresh(
    model: bertsent.BertClassifier, tmp_path: Path
) -> None:
    source = reviews_csv(tmp_path / "in.csv", 20)
    target = tmp_path / "out.jsonl"
    assert predict_file(model, source, target, chunk_size=6, progress=False, resume=True) == 20
    assert [json.loads(line)["id"] for line in target.read_text().splitlines()] == [
        str(i) for i in range(20)
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "out.jsonl"]


def test_parquet_column_null_in_one_chunk_gets_the_type_of_the_others(
    model: bertsent.BertClassifier, tmp_path: Path
) -> None:
    source = tmp_path / "in.jsonl"
    notes = [None] * 5 + ["a note"] * 5
    source.write_text("".join(json.dumps({"text": "fine", "note": n}) + "\n" for n in notes))
    target = tmp_path / "out.parquet"
    predict_file(model, source, target, chunk_size=5, progress=False)
    table = pq.read_table(target)
    assert table.schema.field("note").type == pa.string()
    assert table["note"].to_pylist() == notes


def test_row_count_for_the_progress_bar_matches_the_reader(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text('text,id\n"two\nlines",1\n\nplain,2\n', encoding="utf-8")
    assert count_rows(source, "csv") == 2
    lines = tmp_path / "in.jsonl"
    lines.write_text('{"text": "a"}\n\n{"text": "b"}\n', encoding="utf-8")
    assert count_rows(lines, "jsonl") == 2


@pytest.mark.slow
def test_killed_cli_run_resumes_to_exactly_the_uninterrupted_output(
    trained: TrainingRun, tmp_path: Path
) -> None:
    """A SIGKILL mid-run, then ``--resume``: every row once, in order, as in one run."""
    rows, chunk = 1200, 8  # 150 chunks: seconds of scoring are left when the kill comes
    source = reviews_csv(tmp_path / "in.csv", rows)
    whole, resumed = tmp_path / "whole.parquet", tmp_path / "resumed.parquet"
    work = tmp_path / "resumed.parquet.partial"

    def predict(output: Path, *extra: str) -> subprocess.Popen[str]:
        command = [sys.executable, "-m", "bertsent", "predict", str(trained.output_dir),
                   "--input", str(source), "--output", str(output), "--chunk-size", str(chunk),
                   *extra]  # fmt: skip
        return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    uninterrupted = predict(whole)  # meanwhile, to save its start-up time
    run = predict(resumed)
    deadline = time.monotonic() + 120
    while len(list(work.glob("part-*"))) < 3:
        assert run.poll() is None, f"ended before it could be killed: {run.communicate()}"
        assert time.monotonic() < deadline, "3 chunks not scored within 2 minutes"
        time.sleep(0.01)
    run.kill()
    run.communicate()
    parts = sorted(work.glob("part-*"))
    assert 3 <= len(parts) < rows // chunk and not resumed.exists()
    assert all(pq.read_metadata(part).num_rows == chunk for part in parts)  # complete parts

    for process in (predict(resumed, "--resume"), uninterrupted):
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
        assert out.startswith(f"{rows} rows scored")
    expected = pq.read_table(whole)
    assert expected["id"].to_pylist() == [str(i) for i in range(rows)]
    assert pq.read_table(resumed).to_pylist() == expected.to_pylist()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "in.csv",
        "resumed.parquet",
        "whole.parquet",
    ]


def test_an_existing_output_file_is_kept_unless_overwrite(
    model: bertsent.BertClassifier, tmp_path: Path
) -> None:
    source = reviews_csv(tmp_path / "in.csv", 12)
    target = tmp_path / "out.csv"
    target.write_text("my scores\n")
    with pytest.raises(OutputExistsError, match=r"out\.csv is an existing file") as error:
        predict_file(NeverScores(model), source, target, progress=False)  # refused unscored
    assert "--overwrite" in str(error.value.hint)
    assert target.read_text() == "my scores\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "out.csv"]
    assert predict_file(model, source, target, progress=False, overwrite=True) == 12
    assert target.read_text().startswith("id,text,label,score,")


@pytest.mark.parametrize("out_suffix", [".csv", ".jsonl"])
def test_input_columns_the_predictions_would_replace_are_refused_before_any_work(
    model: bertsent.BertClassifier, tmp_path: Path, out_suffix: str
) -> None:
    texts, gold = synthetic_reviews(12, seed=5)
    source = write_csv(
        tmp_path / "in.csv", [{"text": t, "label": y} for t, y in zip(texts, gold, strict=True)]
    )
    target = tmp_path / f"out{out_suffix}"
    with pytest.raises(DataError, match="already has column 'label'") as error:
        predict_file(NeverScores(model), source, target, progress=False)  # no chunk scored
    assert "--prefix pred_" in str(error.value.hint)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]  # no .partial either
    assert predict_file(model, source, target, progress=False, prefix="pred_") == 12
    if out_suffix == ".csv":
        import csv

        rows = list(csv.DictReader(target.open()))
        assert list(rows[0]) == ["text", "label", "pred_label", "pred_score",
                                 *(f"pred_score_{label}" for label in model.labels_)]  # fmt: skip
    else:
        rows = [json.loads(line) for line in target.read_text().splitlines()]
        assert set(rows[0]["pred_scores"]) == set(model.labels_)
    assert [row["label"] for row in rows] == gold  # the gold labels are kept
    assert [row["pred_label"] for row in rows] == model.predict(texts)


def test_a_later_jsonl_row_with_a_prediction_column_is_refused(
    model: bertsent.BertClassifier, tmp_path: Path
) -> None:
    source = tmp_path / "in.jsonl"
    rows = [{"text": "fine"}] * 12 + [{"text": "fine", "score": 5}]
    source.write_text("".join(json.dumps(row) + "\n" for row in rows))
    with pytest.raises(DataError, match=r"in\.jsonl line 13: the input already has column 'score'"):
        predict_file(model, source, tmp_path / "out.jsonl", chunk_size=5, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]


@pytest.mark.parametrize("out_suffix", [".csv", ".tsv", ".jsonl", ".parquet"])
def test_a_header_only_input_gives_an_output_with_the_header_and_no_rows(
    model: bertsent.BertClassifier, tmp_path: Path, out_suffix: str
) -> None:
    source = tmp_path / "in.csv"
    source.write_text("id,text\n", encoding="utf-8")
    target = tmp_path / f"out{out_suffix}"
    assert predict_file(model, source, target, progress=False) == 0
    columns = ["id", "text", "label", "score", *(f"score_{label}" for label in model.labels_)]
    if out_suffix == ".parquet":
        table = pq.read_table(target)
        assert table.num_rows == 0 and table.column_names == columns
        assert table.schema.field("score").type == pa.float64()
    elif out_suffix == ".jsonl":
        assert target.read_text() == ""  # jsonl has no header: no lines is no rows
    else:
        separator = "\t" if out_suffix == ".tsv" else ","
        assert target.read_bytes() == (separator.join(columns) + "\r\n").encode()  # as csv writes
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", f"out{out_suffix}"]


def test_a_run_stopped_before_its_first_chunk_leaves_no_work_folder(
    model: bertsent.BertClassifier, tmp_path: Path
) -> None:
    source = reviews_csv(tmp_path / "in.csv", 20)
    with pytest.raises(KeyboardInterrupt):
        predict_file(StopAfter(model, 0), source, tmp_path / "out.csv", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]  # nothing to resume
