"""`predict --engine ray`: shards scored by a real local Ray cluster, resumable."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from bertsent.cli import main
from bertsent.data.tasks import AspectTask, FineGrainedTask, Task
from bertsent.errors import ConfigError, DataError
from bertsent.inference.cluster import (
    MANIFEST,
    SHARD_ATTEMPTS,
    ScoringJob,
    check_same_columns,
    connect,
    find_shards,
    interrupt_kept,
    output_path,
    pending_shards,
    score_shard,
)
from tests.conftest import FixedClassifier, synthetic_reviews

pytest.importorskip("ray", reason="ray is in the lock; `make setup` installs it")


def write_shards(folder: Path, count: int, rows: int) -> list[Path]:
    """``count`` shards, csv and parquet in turn, with an id column to count rows by."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for number in range(count):
        texts, labels = synthetic_reviews(rows, seed=100 + number)
        frame = pd.DataFrame({"id": range(number * rows, (number + 1) * rows), "text": texts,
                              "gold": labels})  # fmt: skip
        path = folder / f"shard-{number}.{'parquet' if number % 2 else 'csv'}"
        frame.to_parquet(path, index=False) if number % 2 else frame.to_csv(path, index=False)
        paths.append(path)
    return paths


@contextlib.contextmanager
def running(command: list[str]) -> Iterator[subprocess.Popen[str]]:
    """The command as a process, stopped (with its local Ray) if the test fails."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)  # lets the driver shut its Ray down
            try:
                process.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()


def read_output(folder: Path) -> pd.DataFrame:
    """The scored shards together, by id (csv shards keep their values as text)."""
    parts = [pd.read_parquet(path).astype({"id": "int64"}) for path in folder.glob("*.parquet")]
    return pd.concat(parts, ignore_index=True).sort_values("id", ignore_index=True)


def test_a_ctrl_c_dropped_inside_the_block_is_raised_on_leaving_it() -> None:
    # as the process found it: Python's handler, or SIG_IGN in a job started in the background
    before = signal.getsignal(signal.SIGINT)
    # as when Python runs the handler inside a __del__ and prints the interrupt instead
    with pytest.raises(KeyboardInterrupt), interrupt_kept() as interrupted:
        with contextlib.suppress(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
        assert interrupted.is_set()  # the block ran on, as the scoring loop would
    with interrupt_kept() as interrupted:  # and a block without one leaves quietly
        pass
    assert not interrupted.is_set()
    assert signal.getsignal(signal.SIGINT) is before  # handler restored


@pytest.mark.slow
def test_a_local_ray_job_gives_exactly_the_rows_of_the_single_process_predict(
    trained_model_dir: Path, tmp_path: Path
) -> None:
    shards = write_shards(tmp_path / "in", 6, 40)
    output = tmp_path / "scored"
    command = ["-q", "predict", str(trained_model_dir), "--input", str(tmp_path / "in"),
               "--output", str(output), "--engine", "ray", "--num-workers", "2"]  # fmt: skip
    assert main(command) == 0
    assert sorted(p.name for p in output.iterdir()) == sorted(
        [MANIFEST, *(f"{shard.name}.parquet" for shard in shards)]
    )
    expected = []
    for shard in shards:
        single = tmp_path / f"{shard.name}.single.parquet"
        assert main(["-q", "predict", str(trained_model_dir), "--input", str(shard),
                     "--output", str(single)]) == 0  # fmt: skip
        expected.append(pd.read_parquet(single).astype({"id": "int64"}))
    together = pd.concat(expected, ignore_index=True).sort_values("id", ignore_index=True)
    scored = read_output(output)
    assert list(scored.columns) == list(together.columns)
    assert len(scored) == 240 and scored["id"].is_unique
    pd.testing.assert_frame_equal(scored, together, check_dtype=False, atol=1e-6)


@pytest.mark.slow
def test_a_killed_job_resumes_with_every_row_once(
    trained_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_shards(tmp_path / "in", 6, 2500)
    output = tmp_path / "scored"
    # one worker scoring one review at a time: each shard takes a while (2,500 reviews,
    # ~2 s on a quiet machine; 200 took 0.2 s, and the five left finished before the
    # Ctrl-C reached the driver), so the job is interrupted with some shards done and
    # others not begun
    command = [sys.executable, "-m", "bertsent", "-q", "predict", str(trained_model_dir),
               "--input", str(tmp_path / "in" / "shard-*"), "--output", str(output),
               "--engine", "ray", "--num-workers", "1", "--threads", "1", "--batch-size", "1",
               "--chunk-size", "50"]  # fmt: skip
    with running(command) as driver:
        deadline = time.monotonic() + 600  # Ray and the actor start: ~1-3 min on 2 busy cores
        while not list(output.glob("shard-*.parquet")):
            assert driver.poll() is None and time.monotonic() < deadline, "no shard finished"
            time.sleep(0.1)
        driver.send_signal(signal.SIGINT)
        driver.communicate(timeout=120)
    finished = len(list(output.glob("shard-*.parquet")))
    assert driver.returncode != 0 and 1 <= finished < 6

    assert main(command[3:]) == 2  # a left output needs --resume (or --overwrite)
    assert "pass --resume" in capsys.readouterr().err
    resumed = subprocess.run([*command, "--resume"], capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"({finished} kept from the earlier run)" in resumed.stdout
    scored = read_output(output)
    assert sorted(scored["id"]) == list(range(6 * 2500))  # every row, once
    assert not list(output.glob(".*.tmp")) and not list(output.glob(".*.running"))


@pytest.mark.slow
def test_a_worker_killed_mid_shard_is_replaced_and_every_row_is_written_once(
    trained_model_dir: Path, tmp_path: Path
) -> None:
    write_shards(tmp_path / "in", 4, 200)
    output = tmp_path / "scored"
    command = [sys.executable, "-m", "bertsent", "-q", "predict", str(trained_model_dir),
               "--input", str(tmp_path / "in"), "--output", str(output), "--engine", "ray",
               "--num-workers", "1", "--threads", "1", "--batch-size", "1",
               "--chunk-size", "50"]  # fmt: skip
    with running(command) as driver:
        deadline = time.monotonic() + 600
        while not (markers := list(output.glob(".*.running"))):
            assert driver.poll() is None and time.monotonic() < deadline, "no shard began"
            time.sleep(0.05)
        killed_shard = markers[0].name[1 : -len(".running")]
        os.kill(int(markers[0].read_text().split()[1]), signal.SIGKILL)  # the actor's process
        stdout, stderr = driver.communicate(timeout=900)
    assert driver.returncode == 0, stderr[-3000:]
    assert "800 rows in 4 shards scored" in stdout
    assert (output / f"{killed_shard}.parquet").is_file()
    assert sorted(read_output(output)["id"]) == list(range(800))  # retried, not doubled
    assert not list(output.glob(".*.tmp")) and not list(output.glob(".*.running"))


@pytest.mark.slow
def test_a_shard_that_runs_its_worker_out_of_memory_fails_by_name_and_the_others_finish(
    trained_model_dir: Path, tmp_path: Path
) -> None:
    """Ray's memory monitor, the OOM killer a cluster user meets, set to kill once this
    machine uses 3 GiB more than now: tokenising a shard's 27 MB review (the tokenizer
    holds ~700 bytes a token before truncating) gets there on each of its attempts."""
    import psutil  # installed with ray

    margin, memory = 3 * 2**30, psutil.virtual_memory()
    if memory.available < 2 * margin:
        pytest.skip(f"needs {2 * margin / 2**30:.0f} GiB of free memory")
    threshold = (memory.total - memory.available + margin) / memory.total
    write_shards(tmp_path / "in", 2, 20)
    huge = pd.DataFrame({"id": [999], "text": ["what a great film " * 1_500_000],
                         "gold": ["positive"]})  # fmt: skip
    huge.to_parquet(tmp_path / "in" / "shard-huge.parquet", index=False)
    output = tmp_path / "scored"
    command = [sys.executable, "-m", "bertsent", "-q", "predict", str(trained_model_dir),
               "--input", str(tmp_path / "in"), "--output", str(output), "--engine", "ray",
               "--num-workers", "1", "--threads", "1"]  # fmt: skip
    environment = {**os.environ, "RAY_memory_usage_threshold": f"{threshold:.3f}"}
    failed = subprocess.run(command, capture_output=True, text=True, timeout=900, env=environment)
    assert failed.returncode == 2, failed.stderr[-3000:]
    assert (
        f"shard-huge.parquet: its worker died {SHARD_ATTEMPTS} times while scoring it (killed; "
        "most often for memory" in failed.stderr
    ), failed.stderr[-3000:]
    assert sorted(p.name for p in output.glob("shard-*.parquet")) == [
        "shard-0.csv.parquet",
        "shard-1.parquet.parquet",
    ]  # the other shards finished and stay
    assert not list(output.glob(".*.tmp"))  # the killed workers' partial writes are gone


def test_inputs_that_cannot_be_scored_are_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"no \.csv, \.tsv, \.jsonl, \.parquet files match"):
        find_shards(str(tmp_path / "missing-*.csv"))
    shards = write_shards(tmp_path / "in", 2, 3)
    (tmp_path / "in" / "notes.txt").write_text("not data")
    with pytest.raises(DataError, match=r"notes.txt: not a .csv"):
        find_shards(str(tmp_path / "in" / "*"))
    assert find_shards(str(tmp_path / "in")) == shards  # a folder: its data files
    # Ray actors run in the cluster's working folder: they get the shards' absolute paths
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path)
        assert find_shards("in") == [*find_shards("in/*.csv"), shards[1]] == shards
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "shard-0.csv").write_text("text\nfine\n")
    with pytest.raises(DataError, match="two shards with one name"):
        find_shards(str(tmp_path / "*" / "shard-0.csv"))

    pd.DataFrame({"id": [1], "review": ["fine"]}).to_csv(tmp_path / "in" / "odd.csv", index=False)
    with pytest.raises(DataError, match=r"odd.csv: columns \['id', 'review'\] differ"):
        check_same_columns([*shards, tmp_path / "in" / "odd.csv"], "text")


def test_an_unreachable_cluster_address_is_a_clear_error_and_leaves_no_output(
    trained_model_dir: Path, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match=r"cannot reach the Ray cluster at 127\.0\.0\.1:9"):
        connect("127.0.0.1:9")  # the discard port: nothing listens on it
    write_shards(tmp_path / "in", 1, 3)
    command = ["predict", str(trained_model_dir), "--input", str(tmp_path / "in"),
               "--output", str(tmp_path / "scored"), "--engine", "ray",
               "--address", "127.0.0.1:9"]  # fmt: skip
    assert main(command) == 2
    assert not (tmp_path / "scored").exists()  # a rerun with a good address needs no --resume


@pytest.mark.slow
def test_a_shard_with_a_bad_row_fails_by_name_and_the_finished_shards_stay(
    trained_model_dir: Path, tmp_path: Path
) -> None:
    write_shards(tmp_path / "in", 2, 5)
    (tmp_path / "in" / "shard-9.csv").write_text('id,text,gold\n1,"fine",positive\n2,,negative\n')
    output = tmp_path / "scored"
    with pytest.raises(DataError, match=r"shard-9.csv: .*line 3"):
        from bertsent.inference.cluster import ScoringJob, score_corpus

        job = ScoringJob(str(trained_model_dir), "auto", 1, None, "text", "", 64, str(output))
        score_corpus(job, str(tmp_path / "in"), model_id={"m": 1}, num_workers=1,
                     progress=False)  # fmt: skip
    assert sorted(p.name for p in output.glob("shard-*")) == [
        "shard-0.csv.parquet",
        "shard-1.parquet.parquet",
    ]
    assert os.path.isfile(output / MANIFEST)


class AbstainsFirst(FixedClassifier):
    """A five-class model (an LLM, say) that names no label for reviews marked "??"."""

    def __init__(self) -> None:
        self.labels_ = ["negative", "neutral", "positive", "very negative", "very positive"]
        self.task_ = FineGrainedTask(self.labels_)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        rows = np.tile(np.array([0.1, 0.2, 0.4, 0.1, 0.2]), (len(texts), 1))
        rows[["??" in text for text in texts]] = 0.0
        return rows


def test_a_shard_whose_first_rows_abstained_still_takes_intensities_later(
    tmp_path: Path,
) -> None:
    shard = tmp_path / "in" / "part-0.csv"
    shard.parent.mkdir()
    shard.write_text("text\n" + "".join(f"review {i} ??\n" for i in range(4))
                     + "".join(f"review {i}\n" for i in range(4)))  # fmt: skip
    job = ScoringJob(model_dir="", backend="torch", threads=None, batch_size=None,
                     text_column="text", prefix="", chunk_size=4,
                     output_dir=str(tmp_path / "out"))  # fmt: skip
    (tmp_path / "out").mkdir()
    assert score_shard(AbstainsFirst(), job, shard) == 8
    scored = pd.read_parquet(output_path(tmp_path / "out", shard))
    assert scored["intensity"].isna().tolist() == [True] * 4 + [False] * 4
    assert scored["intensity"].dtype == "float64"
    # a shard whose every review abstained has the same column types as the others
    shard.write_text("text\n" + "".join(f"review {i} ??\n" for i in range(4)))
    assert score_shard(AbstainsFirst(), job, shard) == 4
    schema = pq.read_schema(output_path(tmp_path / "out", shard))
    assert str(schema.field("intensity").type) == "double"
    assert str(schema.field("score").type) == "double"


def test_a_shard_keeps_types_that_widen_after_its_first_chunk_as_predict_does(
    tmp_path: Path,
) -> None:
    shard = tmp_path / "in" / "part-0.jsonl"
    shard.parent.mkdir()
    rows = [(4, None), (5, None), (4.5, "x"), (2.5, "y")]  # whole, then fractional stars
    shard.write_text("".join(json.dumps({"text": f"review {i}", "stars": stars, "note": note})
                             + "\n" for i, (stars, note) in enumerate(rows)))  # fmt: skip
    job = ScoringJob(model_dir="", backend="torch", threads=None, batch_size=None,
                     text_column="text", prefix="", chunk_size=2,
                     output_dir=str(tmp_path / "out"))  # fmt: skip
    (tmp_path / "out").mkdir()
    assert score_shard(Evenly(Task), job, shard) == 4
    scored = pd.read_parquet(output_path(tmp_path / "out", shard))
    assert scored["stars"].tolist() == [4.0, 5.0, 4.5, 2.5]  # not truncated to 4, 2
    assert scored["note"].isna().tolist() == [True, True, False, False]  # null, then text
    assert scored["note"].tolist()[2:] == ["x", "y"]


def test_parts_left_by_a_run_with_other_settings_are_dropped_not_a_failure_forever(
    tmp_path: Path,
) -> None:
    """After a worker ran out of memory the job says to rerun with a smaller
    --chunk-size: the dead worker's parts (another chunk size) cannot be continued."""
    shard = tmp_path / "in" / "part-0.csv"
    shard.parent.mkdir()
    shard.write_text("text\n" + "".join(f"review {i}\n" for i in range(5)))
    (tmp_path / "out").mkdir()
    stale = tmp_path / "out" / "part-0.csv.parquet.partial"
    stale.mkdir()
    (stale / "progress.json").write_text(json.dumps({"chunk_size": 1000}))
    job = ScoringJob(model_dir="", backend="torch", threads=None, batch_size=None,
                     text_column="text", prefix="", chunk_size=2,
                     output_dir=str(tmp_path / "out"))  # fmt: skip
    assert score_shard(Evenly(Task), job, shard) == 5
    assert not stale.exists() and len(pd.read_parquet(output_path(tmp_path / "out", shard))) == 5


def test_an_earlier_manifest_without_its_input_resumes_and_records_it_from_then_on(
    tmp_path: Path,
) -> None:
    from bertsent.inference.cluster import _open_output

    output = tmp_path / "scored"
    output.mkdir()
    settings = {"input": "/data/jan", "model": {"path": "m"}, "text_column": "text",
                "prefix": "", "backend": "torch"}  # fmt: skip
    earlier = {key: value for key, value in settings.items() if key != "input"}
    (output / MANIFEST).write_text(json.dumps(earlier))
    _open_output(output, settings, resume=True, overwrite=False)  # not held against it
    assert json.loads((output / MANIFEST).read_text())["input"] == "/data/jan"
    with pytest.raises(DataError, match="cannot resume, the input differ"):
        _open_output(output, {**settings, "input": "/data/feb"}, resume=True, overwrite=False)


def test_a_resume_rescores_a_shard_changed_since_its_output_was_written(tmp_path: Path) -> None:
    shards = write_shards(tmp_path / "in", 2, 3)
    output = tmp_path / "scored"
    output.mkdir()
    assert pending_shards(shards, output) == shards
    for shard in shards:
        output_path(output, shard).write_bytes(b"scored")
    assert pending_shards(shards, output) == []
    later = output_path(output, shards[1]).stat().st_mtime_ns + 10**9
    os.utime(shards[1], ns=(later, later))  # edited (or regenerated) after it was scored
    assert pending_shards(shards, output) == [shards[1]]


class Evenly(FixedClassifier):
    """Two classes, always half and half, for a given task."""

    def __init__(self, task: type[Task]) -> None:
        self.labels_ = ["negative", "positive"]
        self.task_ = task(self.labels_)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return np.full((len(texts), 2), 0.5)


def test_a_shard_is_checked_for_its_aspects_as_the_single_process_predict_checks_them(
    tmp_path: Path,
) -> None:
    shard = tmp_path / "in" / "part-0.csv"
    shard.parent.mkdir()
    pd.DataFrame({"text": ["the battery dies", "the screen glows"],
                  "aspect": ["battery", "hinge"]}).to_csv(shard, index=False)  # fmt: skip
    (tmp_path / "out").mkdir()

    def job(strict: bool) -> ScoringJob:
        return ScoringJob(model_dir="", backend="torch", threads=None, batch_size=None,
                          text_column="text", prefix="", chunk_size=8,
                          output_dir=str(tmp_path / "out"), strict=strict)  # fmt: skip

    with pytest.raises(DataError, match=r"part-0.csv line 3: aspect 'hinge' does not occur"):
        score_shard(Evenly(AspectTask), job(strict=True), shard)
    assert score_shard(Evenly(AspectTask), job(strict=False), shard) == 2  # warned only
    # a model that reads the text alone would ignore each row's aspect: refused by name
    with pytest.raises(DataError, match=r"part-0.csv: column 'aspect' names an aspect per row"):
        score_shard(Evenly(Task), job(strict=False), shard)


@pytest.mark.parametrize("flag", [["--aspect", "battery"], ["--top-k", "2"]])
def test_flags_for_command_line_texts_are_refused_with_the_ray_engine(
    trained_model_dir: Path, tmp_path: Path, flag: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    write_shards(tmp_path / "in", 1, 3)
    command = ["predict", str(trained_model_dir), "--input", str(tmp_path / "in"),
               "--output", str(tmp_path / "scored"), "--engine", "ray", *flag]  # fmt: skip
    assert main(command) == 2
    assert f"{flag[0]} is for texts given on the command line" in capsys.readouterr().err
    assert not (tmp_path / "scored").exists()
