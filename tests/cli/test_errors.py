"""Bad input to any command: one ``error:`` line and a hint, a non-zero exit, nothing left.

Each row is a user's mistake seen in the field. The command runs in a scratch folder
(its working directory); afterwards that folder must hold exactly what it held before,
so a failed command leaves no half-written output, ``.partial`` or ``.checkpoints``.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from bertsent.cli import main
from tests.conftest import write_csv

Prepare = Callable[[Path, dict[str, Path]], list[str]]


def damaged_weights(work: Path, models: dict[str, Path]) -> list[str]:
    model = shutil.copytree(models["bert"], work / "model")
    weights = model / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])  # a copy cut short
    return ["predict", str(model), "a fine film"]


def damaged_baseline(work: Path, models: dict[str, Path]) -> list[str]:
    model = shutil.copytree(models["tfidf"], work / "model")
    (model / "pipeline.safetensors").write_text("not safetensors")
    return ["evaluate", str(model)]


def four_rows(work: Path, models: dict[str, Path]) -> list[str]:
    rows = [{"text": t, "label": y} for t, y in [("good", "pos"), ("bad", "neg")] * 2]
    data = write_csv(work / "four.csv", rows)
    return ["train", "--method", "tfidf-lr", "--data", str(data), "--output", str(work / "m")]


def max_length_beyond_positions(work: Path, models: dict[str, Path]) -> list[str]:
    data = write_csv(
        work / "d.csv", [{"text": f"review {i}", "label": "ab"[i % 2]} for i in range(40)]
    )
    return ["train", "--model", str(models["tiny"]), "--data", str(data), "--max-length", "1024",
            "--output", str(work / "m")]  # fmt: skip


def empty_text_to_explain(work: Path, models: dict[str, Path]) -> list[str]:
    return ["explain", str(models["bert"]), "   "]


def missing_model(work: Path, models: dict[str, Path]) -> list[str]:
    return ["predict", str(work / "nowhere"), "a fine film"]


def missing_input(work: Path, models: dict[str, Path]) -> list[str]:
    return ["predict", str(models["tfidf"]), "--input", str(work / "none.csv"),
            "--output", str(work / "out.csv")]  # fmt: skip


def column_clash(work: Path, models: dict[str, Path]) -> list[str]:
    data = write_csv(work / "gold.csv", [{"text": "a fine film", "label": "positive"}])
    return ["predict", str(models["tfidf"]), "--input", str(data), "--output", str(work / "o.csv")]


def invalid_utf8(work: Path, models: dict[str, Path]) -> list[str]:
    (work / "bad.csv").write_bytes(b"text,label\ngood,positive\nbad \xff,negative\n")
    return ["evaluate", str(models["tfidf"]), "--data", str(work / "bad.csv")]


def unknown_label(work: Path, models: dict[str, Path]) -> list[str]:
    data = write_csv(work / "e.csv", [{"text": "a fine film", "label": "neutral"}])
    return ["evaluate", str(models["tfidf"]), "--data", str(data)]


def output_is_a_user_file(work: Path, models: dict[str, Path]) -> list[str]:
    (work / "notes.txt").write_text("mine")
    return ["predict", str(models["tfidf"]), "--input", str(work / "notes.txt"),
            "--output", str(work / "notes.txt")]  # fmt: skip


def export_a_baseline(work: Path, models: dict[str, Path]) -> list[str]:
    model = shutil.copytree(models["tfidf"], work / "model")
    return ["export", str(model), "--onnx"]


def behave_missing_model(work: Path, models: dict[str, Path]) -> list[str]:
    return ["behave", str(work / "nowhere")]


def report_missing_model(work: Path, models: dict[str, Path]) -> list[str]:
    return ["report", str(work / "nowhere")]


def unknown_backend_for_a_baseline(work: Path, models: dict[str, Path]) -> list[str]:
    return ["predict", str(models["tfidf"]), "--backend", "onnx-int8", "a fine film"]


CASES: dict[str, Prepare] = {
    "damaged model.safetensors": damaged_weights,
    "damaged pipeline.safetensors": damaged_baseline,
    "4-row training file": four_rows,
    "--max-length beyond the checkpoint": max_length_beyond_positions,
    "explain a blank text": empty_text_to_explain,
    "missing model folder": missing_model,
    "missing input file": missing_input,
    "input has a label column": column_clash,
    "invalid UTF-8": invalid_utf8,
    "label the model does not know": unknown_label,
    "output is the user's file": output_is_a_user_file,
    "ONNX export of a baseline": export_a_baseline,
    "behave without a model": behave_missing_model,
    "report without a model": report_missing_model,
    "BERT backend for a baseline": unknown_backend_for_a_baseline,
}


@pytest.fixture(scope="module")
def models(
    trained_model_dir: Path, tiny_model_dir: Path, dataset_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Path]:  # fmt: skip
    tfidf = tmp_path_factory.mktemp("tfidf") / "model"
    assert main(["-q", "train", "--method", "tfidf-lr", "--data", str(dataset_dir),
                 "--output", str(tfidf)]) == 0  # fmt: skip
    return {"bert": trained_model_dir, "tfidf": tfidf, "tiny": tiny_model_dir}


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else b"/"
            for p in sorted(folder.rglob("*"))}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_gets_one_line_and_leaves_nothing(
    case: str, models: dict[str, Path], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    arguments = CASES[case](tmp_path, models)
    before = snapshot(tmp_path)
    capsys.readouterr()
    code = main(arguments)  # a traceback would raise here and fail the test
    error = capsys.readouterr().err
    assert code == 2, error
    lines = [line for line in error.splitlines() if line.strip()]
    assert lines[0].startswith("error: ") and "Traceback" not in error
    assert all(line.startswith(("error: ", "hint: ")) for line in lines), error
    assert snapshot(tmp_path) == before  # nothing written, nothing left beside


@pytest.mark.parametrize("command", ["compare", "learning-curve"])
def test_zero_seeds_is_refused_before_any_work(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:  # argparse's exit, not a statistics traceback
        main([command, "--methods", "tfidf-lr", "--seeds", "0"])
    assert stopped.value.code == 2
    assert "argument --seeds: must be at least 1, got 0" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("arguments", "refusal"),
    [
        (["predict", "MODEL", "a fine film", "--batch-size", "-1"], "--batch-size: must be at"),
        (["predict", "MODEL", "a fine film", "--threads", "-1"], "--threads: must be at least 1"),
        (["serve", "MODEL", "--threads", "0"], "--threads: must be at least 1"),
        (["predict", "MODEL", "a fine film", "--top-k", "0"], "--top-k: must be at least 1"),
        (["behave", "MODEL", "--seed", "-1"], "--seed: must be at least 0"),
    ],
)
def test_counts_below_one_are_refused_before_the_model_loads(
    arguments: list[str], refusal: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # a batch size of -1 gave no batches and a score of 0.5 for every row, exit 0
    with pytest.raises(SystemExit) as stopped:
        main(arguments)
    assert stopped.value.code == 2 and refusal in capsys.readouterr().err


def test_strict_without_an_aspect_is_refused_not_ignored(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["predict", "MODEL", "--strict", "a fine film"]) == 2
    assert "--strict checks the --aspect of the texts" in capsys.readouterr().err


def test_a_ctrl_c_outside_training_exits_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import bertsent.cli.predict

    def pressed(args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(bertsent.cli.predict, "load_for_inference", pressed)
    assert main(["predict", "MODEL", "a fine film"]) == 130
    assert "interrupted" in capsys.readouterr().err


def test_a_training_stopped_by_ctrl_c_exits_as_an_interrupt_not_a_failure(
    dataset_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """It exited 2, as a bad flag does: a script could not tell a Ctrl-C from an error."""
    import bertsent.pipeline
    from bertsent.errors import TrainingInterrupted

    def stopped(*args: object, **kwargs: object) -> None:
        raise TrainingInterrupted("training stopped at step 3", hint="rerun with --resume")

    monkeypatch.setattr(bertsent.pipeline, "train", stopped)
    command = ["train", "--data", str(dataset_dir), "--output", str(tmp_path / "m")]
    assert main(command) == 130
    assert "training stopped at step 3" in capsys.readouterr().err
