from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bertsent.cli import main


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bertsent", *args], capture_output=True, text=True, timeout=300
    )


def test_data_error_is_one_line_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"text,label\ngood,positive\nbad \xff,negative\n")
    result = run_cli("train", "--data", str(bad), "--output", str(tmp_path / "m"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(
        f"error: {bad} line 3: byte 0xff at column 5 is not valid UTF-8"
    )
    assert "hint: re-save the file as UTF-8" in result.stderr


def test_missing_model_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["predict", str(tmp_path / "nope"), "hello"]) == 2
    assert "model directory" in capsys.readouterr().err


def test_predict_json(trained_model_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["predict", str(trained_model_dir), "a superb film", "a dull mess", "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [item["text"] for item in lines] == ["a superb film", "a dull mess"]
    for item in lines:
        assert set(item) == {"text", "label", "score", "scores"}
        assert item["score"] == max(item["scores"].values())


def test_predict_table_and_files(
    trained_model_dir: Path, dataset_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["predict", str(trained_model_dir), "This is not a bad film"]) == 0
    assert "This is not a bad film" in capsys.readouterr().out
    out = tmp_path / "scored.parquet"
    assert (
        main(
            [
                "predict",
                str(trained_model_dir),
                "--input",
                str(dataset_dir / "test.csv"),
                "--output",
                str(out),
            ]
        )
        == 0
    )
    assert out.is_file()


def test_evaluate_writes_json_and_figure(trained_model_dir: Path, tmp_path: Path) -> None:
    report_path = tmp_path / "report.json"
    assert (
        main(["evaluate", str(trained_model_dir), "--split", "test", "--json", str(report_path)])
        == 0
    )  # data from metadata
    report = json.loads(report_path.read_text())
    assert {"accuracy", "accuracy_ci", "macro_f1", "per_class", "ece", "n"} <= set(report)
    assert report["n"] == 40 and report["accuracy"] > 0.8
    assert report_path.with_suffix(".png").stat().st_size > 1000


def test_predict_needs_input_and_output_together(
    trained_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["predict", str(trained_model_dir), "--input", "x.csv"]) == 2
    assert "--input and --output go together" in capsys.readouterr().err


def test_baseline_train_evaluate_behave(
    dataset_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tmp_path / "tfidf"
    assert main(["-q", "train", "--method", "tfidf-lr", "--data", str(dataset_dir),
                 "--output", str(model)]) == 0  # fmt: skip
    assert "tfidf-lr (C " in capsys.readouterr().out
    report_path = tmp_path / "report.json"
    assert main(["evaluate", str(model), "--json", str(report_path)]) == 0
    assert json.loads(report_path.read_text())["accuracy"] > 0.8
    behaviour_path = tmp_path / "behaviour.json"
    assert main(["behave", str(model), "--json", str(behaviour_path), "--per-test", "10"]) == 0
    assert "pass rate" in capsys.readouterr().out
    behaviour = json.loads(behaviour_path.read_text())
    assert behaviour["categories"]["negation"]["cases"] > 0
    assert "negated positive adjective" in {test["name"] for test in behaviour["tests"]}


def test_compare_and_learning_curve_commands(
    dataset_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "cmp"
    assert main(["-q", "learning-curve", "--data", str(dataset_dir), "--methods", "bow-svm",
                 "--sizes", "20,all", "--seeds", "2", "--output", str(output)]) == 0  # fmt: skip
    assert "BOW + SVM" in capsys.readouterr().out
    assert main(["-q", "compare", "--data", str(dataset_dir), "--methods", "bow-svm,nbsvm",
                 "--output", str(output)]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "| NB-SVM |" in out and "## When to use which" in out
    assert {"compare.md", "compare.json", "compare.png", "learning-curve.json"} <= {
        p.name for p in output.iterdir()
    }


def test_unknown_method_is_rejected(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["compare", "--methods", "bow-svm,svm"])
    assert "unknown method(s) svm" in capsys.readouterr().err


def test_explain_prints_attributions_faithfulness_and_math(
    trained_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = "This movie was not very good"
    assert main(["explain", str(trained_model_dir), text, "--output", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "convergence delta" in out and "probability drop after deleting the top 2" in out
    stem = "this-movie-was-not-very-good"
    for name in (f"{stem}-attention.png", f"{stem}-attributions.png", f"{stem}.json"):
        assert (tmp_path / name).is_file()
    assert main(["explain", str(trained_model_dir), text, "--math", "--gold", "negative"]) == 0
    assert "gradient dL/dz = p - y" in capsys.readouterr().out
    assert main(["explain", str(trained_model_dir), text, "--head", "9"]) == 2
    assert "got layer -1, head 9" in capsys.readouterr().err


def test_embed_map_and_report_commands(
    trained_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["embed-map", str(trained_model_dir), "--output", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "before fine-tuning: silhouette" in out and "linear probe" in out
    assert (tmp_path / "embedding_map.png").is_file() and (
        tmp_path / "embedding_map.html"
    ).is_file()
    report = tmp_path / "report.html"
    assert main(["report", str(trained_model_dir), "--output", str(report), "--sample", "20"]) == 0
    assert f"report written to {report}" in capsys.readouterr().out


def test_export_then_predict_and_evaluate_with_onnx_backends(
    trained_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    model = tmp_path / "model"
    shutil.copytree(trained_model_dir, model)
    assert main(["predict", str(model), "a superb film", "--backend", "onnx"]) == 2
    assert "bertsent export" in capsys.readouterr().err  # not exported yet: says how
    assert main(["export", str(model), "--onnx", "--int8"]) == 0
    table = capsys.readouterr().out
    assert "onnx-int8" in table and "agreement" in table
    texts = ["a superb film", "a dull mess"]
    assert main(["predict", str(model), *texts, "--json"]) == 0
    expected = [json.loads(line)["label"] for line in capsys.readouterr().out.splitlines()]
    for backend in ("onnx", "onnx-int8"):
        assert main(["predict", str(model), *texts, "--json", "--backend", backend]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert [json.loads(line)["label"] for line in lines] == expected
    assert main(["evaluate", str(model), "--split", "dev", "--backend", "onnx-int8"]) == 0
