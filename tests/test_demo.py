from __future__ import annotations

import json
from pathlib import Path

import pytest

import bertsent.demo
from bertsent.cli import main
from bertsent.data import DatasetSplits
from bertsent.demo import run_demo
from bertsent.evaluation.puzzles import PUZZLES
from bertsent.training.config import TrainingConfig


def check_demo_outputs(result: bertsent.demo.DemoResult) -> None:
    for path in result.paths.values():
        assert path.exists(), path
    test_metrics = json.loads(result.paths["test metrics"].read_text())
    assert test_metrics["dataset"] == "rotten-tomatoes" and test_metrics["split"] == "test"
    assert test_metrics["n"] == len(result.run.data.test or [])
    assert test_metrics["accuracy"] == result.test_report["accuracy"]
    puzzles = json.loads(result.paths["puzzles"].read_text())
    assert puzzles == result.puzzles
    assert [p["text"] for p in result.puzzles] == [text for text, _ in PUZZLES]
    assert all(p["label"] in ("fresh", "rotten") for p in result.puzzles)
    assert "rotten-tomatoes" in result.paths["report"].read_text(encoding="utf-8")


@pytest.mark.slow
def test_demo_pipeline_on_a_slice_of_its_data(
    tiny_model_dir: Path, tmp_path: Path, rotten_tomatoes_slice: DatasetSplits
) -> None:
    """The demo's path end to end in seconds: train, evaluate, puzzles, report."""
    # 8 steps: the one evaluation comes before the learning rate is first logged (every
    # 10 steps), so the report must cope with a best entry without a learning rate
    config = TrainingConfig(model=str(tiny_model_dir), epochs=1, batch_size=32, max_length=32)
    result = run_demo(tmp_path / "demo", config, report_sample=40)
    check_demo_outputs(result)
    assert result.run.data is rotten_tomatoes_slice
    assert result.test_report["n"] == 80
    assert json.loads((result.paths["model"] / "bertsent.json").read_text())["labels"] == [
        "fresh",
        "rotten",
    ]


@pytest.mark.slow
def test_a_resumed_demo_goes_on_from_its_finished_model(
    tiny_model_dir: Path, tmp_path: Path, rotten_tomatoes_slice: DatasetSplits
) -> None:
    """A stop in the evaluation or the report leaves a trained model and no checkpoints:
    --resume trained it again from scratch (8-15 min on the real data)."""
    config = TrainingConfig(model=str(tiny_model_dir), epochs=1, batch_size=32, max_length=32)
    first = run_demo(tmp_path / "demo", config, report_sample=40)
    weights = first.paths["model"] / "model.safetensors"
    trained_at = weights.stat().st_mtime_ns
    (first.paths["report"]).unlink()  # as if stopped before the report
    again = run_demo(tmp_path / "demo", config, report_sample=40, resume=True)
    assert weights.stat().st_mtime_ns == trained_at and again.paths["report"].is_file()
    assert again.test_report["accuracy"] == first.test_report["accuracy"]
    assert again.run.best == first.run.best and again.run.train_seconds == pytest.approx(
        first.run.train_seconds, abs=0.1
    )
    # another recipe is trained, not taken from the folder
    run_demo(tmp_path / "demo", TrainingConfig(**{**config.to_dict(), "epochs": 2}),
             report_sample=40, resume=True)  # fmt: skip
    assert weights.stat().st_mtime_ns != trained_at


@pytest.mark.slow
def test_demo_pipeline_writes_everything_it_reports(tiny_model_dir: Path, tmp_path: Path) -> None:
    """The demo's path end to end on the real rotten-tomatoes data, with a tiny encoder."""
    config = TrainingConfig(model=str(tiny_model_dir), epochs=1, batch_size=64, max_length=32)
    result = run_demo(tmp_path / "demo", config, report_sample=200)
    check_demo_outputs(result)


@pytest.mark.slow
def test_demo_command_prints_results_and_paths(
    tiny_model_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # rich wraps at 80 columns when not on a terminal
    args = ["-q", "demo", "--output", str(tmp_path / "demo"), "--epochs", "1"]
    assert main([*args, "--model", str(tiny_model_dir)]) == 0
    out = capsys.readouterr().out
    assert "Test accuracy" in out and "Great, another boring superhero movie" in out
    assert str(tmp_path / "demo" / "model") in out
