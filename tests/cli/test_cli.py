from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

import bertsent
from bertsent.cli import main
from tests.conftest import write_csv


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


@pytest.mark.parametrize(
    "arguments",
    [
        ["predict", "{model}", "--json", "a superb film", "a dull mess"],
        ["predict", "--json", "{model}", "a superb film", "a dull mess"],
        ["predict", "{model}", "a superb film", "--json", "a dull mess", "-q"],
        ["-q", "predict", "{model}", "a superb film", "a dull mess", "--json"],
    ],
)
def test_options_work_in_any_position(
    arguments: list[str], trained_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([a.format(model=trained_model_dir) for a in arguments]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [item["text"] for item in lines] == ["a superb film", "a dull mess"]


def test_unknown_options_are_still_refused(
    trained_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["predict", str(trained_model_dir), "--bogus", "a superb film"])
    assert exit_info.value.code == 2
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err
    # before the command too: `--json predict` printed a table and exited 0
    with pytest.raises(SystemExit) as exit_info:
        main(["--json", "predict", str(trained_model_dir), "a superb film"])
    assert exit_info.value.code == 2
    assert "unrecognized arguments before predict: --json" in capsys.readouterr().err


def test_predict_table_and_files(
    trained_model_dir: Path,
    dataset_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # rich wraps at 80 columns when not on a terminal
    assert main(["predict", str(trained_model_dir), "This is not a bad film"]) == 0
    table = capsys.readouterr().out
    (expected,) = bertsent.load(trained_model_dir).predict_scores(["This is not a bad film"])
    row = next(line for line in table.splitlines() if "This is not a bad film" in line)
    assert expected["label"] in row and f"{expected['score']:.4f}" in row
    assert all(f"{score:.4f}" in row for score in expected["scores"].values())
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
                "--prefix",
                "pred_",  # the input has a gold `label` column
            ]
        )
        == 0
    )
    assert f"40 rows scored -> {out}" in capsys.readouterr().out
    import pyarrow.parquet as pq

    with (dataset_dir / "test.csv").open(encoding="utf-8", newline="") as handle:
        inputs = list(csv.DictReader(handle))
    texts = [row["text"] for row in inputs]
    rows = pq.read_table(out).to_pylist()
    assert [row["text"] for row in rows] == texts  # every input row, in input order
    assert [row["label"] for row in rows] == [row["label"] for row in inputs]  # gold kept
    model = bertsent.load(trained_model_dir)
    probabilities = model.predict_proba(texts)
    for row, expected in zip(rows, probabilities, strict=True):
        scores = [row[f"pred_score_{label}"] for label in model.labels_]
        assert scores == pytest.approx(expected.tolist(), abs=1e-5)
        assert row["pred_label"] == model.labels_[int(expected.argmax())]
        assert row["pred_score"] == max(scores)


def test_evaluate_writes_json_and_figure(
    trained_model_dir: Path, dataset_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report_path = tmp_path / "report.json"
    assert (
        main(["evaluate", str(trained_model_dir), "--split", "test", "--json", str(report_path)])
        == 0
    )  # data from metadata
    report = json.loads(report_path.read_text())
    # the split and the backend are printed, not swallowed as markup
    assert f"{report['dataset']} [test] (torch)" in capsys.readouterr().out
    assert {"accuracy", "accuracy_ci", "macro_f1", "per_class", "ece", "n"} <= set(report)
    assert report["n"] == 40 and report["accuracy"] > 0.8
    with (dataset_dir / "test.csv").open(encoding="utf-8", newline="") as handle:
        gold = [(row["text"], row["label"]) for row in csv.DictReader(handle)]
    predicted = bertsent.load(trained_model_dir).predict([text for text, _ in gold])
    hits = sum(p == label for p, (_, label) in zip(predicted, gold, strict=True))
    assert report["accuracy"] == pytest.approx(hits / 40)
    matrix = report["confusion_matrix"]
    assert sum(map(sum, matrix)) == 40 and matrix[0][0] + matrix[1][1] == hits
    figure = Image.open(report_path.with_suffix(".png"))
    assert figure.format == "PNG" and figure.size == (600, 480)  # 2 classes: 5 x 4 in at 120 dpi
    figure.load()  # decodes the whole image, not just the header


@pytest.mark.parametrize("command", ["evaluate", "export", "report", "embed-map"])
def test_a_column_option_without_data_is_refused_not_replaced_by_the_recorded_one(
    command: str, trained_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    extra = ["--onnx"] if command == "export" else []
    assert main([command, str(trained_model_dir), *extra, "--text-column", "review"]) == 2
    error = capsys.readouterr().err
    assert "--text-column name columns of --data; without it the model's own data" in error
    assert not (trained_model_dir / "exports.json").exists()
    assert not list(trained_model_dir.parent.glob("*-report.html"))


def test_column_options_do_not_name_columns_of_the_built_in_dataset(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    command = ["-q", "train", "--method", "tfidf-lr", "--text-column", "review", "--output",
               str(tmp_path / "m")]  # fmt: skip
    assert main(command) == 2
    assert "the built-in rotten-tomatoes dataset has its own columns" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--chunk-size", "10", "a fine film"], "--chunk-size is for scoring an --input file"),
        (["--prefix", "p_", "a fine film"], "--prefix is for scoring an --input file"),
        (["--resume", "a fine film"], "--resume is for scoring an --input file"),
        (
            ["--num-workers", "8", "--input", "{csv}", "--output", "{out}"],
            "--num-workers is for --engine ray",
        ),
        (
            ["--address", "auto", "--input", "{csv}", "--output", "{out}"],
            "--address is for --engine ray",
        ),
        (
            ["--json", "--input", "{csv}", "--output", "{out}"],
            "--json prints the labels of texts given on the command line",
        ),
        (
            ["--engine", "ray", "--chunk-size", "0", "--input", "{csv}", "--output", "{out}"],
            "argument --chunk-size: must be at least 1, got 0",
        ),
    ],
)
def test_a_predict_flag_the_run_would_ignore_is_refused_by_name(
    flags: list[str],
    message: str,
    trained_model_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = write_csv(tmp_path / "in.csv", [{"text": "a fine film"}])
    out = tmp_path / "out"
    filled = [flag.format(csv=source, out=out) for flag in flags]
    try:
        code = main(["-q", "predict", str(trained_model_dir), *filled])
    except SystemExit as refused:  # argparse's own refusal of a value
        code = refused.code
    assert code == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_predict_needs_input_and_output_together(
    trained_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["predict", str(trained_model_dir), "--input", "x.csv"]) == 2
    assert "--input and --output go together" in capsys.readouterr().err
    command = ["predict", str(trained_model_dir), "great film", "--input", "a.csv",
               "--output", "b.csv"]  # fmt: skip
    assert main(command) == 2  # the text would go unscored
    assert "texts on the command line and --input" in capsys.readouterr().err


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
    result = json.loads((output / "compare.json").read_text())
    assert [row["method"] for row in result["rows"]] == ["bow-svm", "nbsvm"]
    assert result["splits"]["sizes"] == {"train": 160, "dev": 40, "test": 40}
    for row in result["rows"]:
        low, high = row["accuracy_ci"]
        assert f"| {row['name']} | {row['accuracy']:.2%} [{low:.1%}, {high:.1%}] |" in out
    assert (output / "compare.md").read_text() in out
    curve = json.loads((output / "learning-curve.json").read_text())
    runs = curve["methods"]["bow-svm"]["runs"]
    assert curve["methods"]["bow-svm"]["sizes"] == [20, 160]
    assert sorted((run["size"], run["seed"]) for run in runs) == [
        (20, 42), (20, 43), (160, 42), (160, 43)
    ]  # fmt: skip
    chart = Image.open(output / "compare.png")
    assert chart.format == "PNG" and chart.size[0] > 1000
    chart.load()


def test_unknown_method_is_rejected(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["compare", "--methods", "bow-svm,svm"])
    assert "unknown method(s) svm" in capsys.readouterr().err


def test_a_method_named_twice_is_compared_once() -> None:
    from bertsent.cli.options import parse_methods

    assert parse_methods("bow-svm, bert,bow-svm") == ["bow-svm", "bert"]


def test_explain_prints_attributions_faithfulness_and_math(
    trained_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = "This movie was not very good"
    assert main(["explain", str(trained_model_dir), text, "--output", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "convergence delta" in out and "probability drop after deleting the top 2" in out
    stem = "this-movie-was-not-very-good"
    saved = json.loads((tmp_path / f"{stem}.json").read_text())
    model = bertsent.load(trained_model_dir)
    (probabilities,) = model.predict_proba([text])
    assert saved["text"] == text and saved["label"] == model.predict([text])[0]
    assert saved["probability"] == pytest.approx(float(probabilities.max()), abs=1e-4)
    words = ["[CLS]", "this", "movie", "was", "not", "very", "good", "[SEP]"]
    assert saved["words"] == words  # special tokens stay words of their own
    assert len(saved["scores"]) == len(saved["attention_rollout"]) == len(words)
    assert f"{saved['label']} (p={saved['probability']:.3f})" in out
    for name in (f"{stem}-attention.png", f"{stem}-attributions.png"):
        figure = Image.open(tmp_path / name)
        assert figure.format == "PNG" and min(figure.size) > 100
        figure.load()
    assert main(["explain", str(trained_model_dir), text, "--math", "--gold", "negative"]) == 0
    assert "gradient dL/dz = p - y" in capsys.readouterr().out
    assert main(["explain", str(trained_model_dir), text, "--head", "9"]) == 2
    assert "got layer -1, head 9" in capsys.readouterr().err
    # flags this run would ignore are refused by name, before the model loads
    assert main(["explain", str(trained_model_dir), text, "--gold", "negative"]) == 2
    assert "--gold is the gold label of the --math loss" in capsys.readouterr().err
    assert main(["explain", str(trained_model_dir), text, "--math", "--head", "9"]) == 2
    assert "--head shapes the figures and files, and --math alone" in capsys.readouterr().err


@pytest.mark.slow
def test_embed_map_and_report_commands(
    trained_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["embed-map", str(trained_model_dir), "--output", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    saved = json.loads((tmp_path / "embedding_map.json").read_text())
    for stage in ("before", "after"):
        values = saved["stages"][stage]
        assert (
            f"{stage} fine-tuning: silhouette {values['silhouette']:+.3f}, "
            f"linear probe {values['probe_accuracy']:.1%}"
        ) in out
        assert len(values["tsne"]) == len(saved["points"])
    assert sum(point["kind"] == "review" for point in saved["points"]) == 40  # the test split
    figure = Image.open(tmp_path / "embedding_map.png")
    assert figure.format == "PNG" and min(figure.size) > 100
    figure.load()
    page = (tmp_path / "embedding_map.html").read_text(encoding="utf-8")
    assert page.count("<svg") == 2 and "test split" in page
    report = tmp_path / "report.html"
    assert main(["report", str(trained_model_dir), "--output", str(report), "--sample", "20"]) == 0
    assert f"report written to {report}" in capsys.readouterr().out
    accuracy = bertsent.evaluate(trained_model_dir, split="test")["accuracy"]
    html = report.read_text(encoding="utf-8")
    assert f"<b>Accuracy {100 * accuracy:.2f}%</b>" in html and "on 40 test reviews" in html


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


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--epochs", "10"], "--epochs is a BERT fine-tuning setting; --method tfidf-lr does not"),
        (["--recipe", "robust"], "--r-drop (from --recipe robust) is a BERT fine-tuning setting"),
        (["--class-weights"], "--class-weights is a BERT fine-tuning setting"),
        # a flag given with a recipe is the user's, not the recipe's
        (["--recipe", "robust", "--r-drop", "0.5"], "error: --r-drop is a BERT fine-tuning"),
        (["--metric", "macro_f1"], "--metric is a BERT fine-tuning setting"),
        (["--prompt", "p.txt"], "--prompt is for --method llm"),
    ],
)
def test_a_flag_the_method_would_ignore_is_refused_by_name(
    dataset_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    flags: list[str],
    message: str,
) -> None:
    command = ["-q", "train", "--method", "tfidf-lr", "--data", str(dataset_dir),
               "--output", str(tmp_path / "m"), *flags]  # fmt: skip
    assert main(command) == 2
    error = capsys.readouterr().err
    assert message in error
    assert not (tmp_path / "m").exists()
