"""Multi-label emotions: ';'-joined labels from the data to predictions, thresholds, errors."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bertsent.cli import main
from bertsent.data import load_dataset
from bertsent.data.tasks import MultiLabelTask
from bertsent.errors import ConfigError, DataError
from bertsent.evaluation.evaluate import evaluate
from bertsent.models import load
from bertsent.pipeline import train
from tests.conftest import write_csv

EMOTION_WORDS = {
    "joy": ["delighted", "cheerful", "thrilled"],
    "anger": ["furious", "livid"],
    "surprise": ["astonished", "stunned"],
    "sadness": ["heartbroken", "gloomy"],
}
FILLER = ["the", "news", "today", "was", "about", "my", "team", "and", "so", "i", "am"]


def emotion_rows(n: int, seed: int) -> list[dict[str, str]]:
    """Each review names one or two emotions by word; its labels are those emotions."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        emotions = sorted(rng.sample(sorted(EMOTION_WORDS), 1 + (i % 3 == 0)))
        words = [*rng.sample(FILLER, 4), *(rng.choice(EMOTION_WORDS[e]) for e in emotions)]
        rng.shuffle(words)
        rows.append({"text": " ".join(words), "labels": ";".join(reversed(emotions))})
    return rows


@pytest.fixture(scope="module")
def emotion_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("emotions")
    write_csv(folder / "train.csv", emotion_rows(240, seed=0))
    write_csv(folder / "dev.csv", emotion_rows(60, seed=1))
    return folder


def test_a_labels_column_makes_a_multi_label_task_with_thresholds(
    emotion_data: Path, tmp_path: Path
) -> None:
    splits = load_dataset(str(emotion_data))
    assert splits.labels == sorted(EMOTION_WORDS)
    run = train(str(emotion_data), output_dir=tmp_path / "model", method="tfidf-lr")
    saved = json.loads((tmp_path / "model" / "bertsent.json").read_text())
    assert saved["task"]["name"] == "multi-label"
    assert set(saved["task"]["thresholds"]) == set(EMOTION_WORDS)
    assert run.dev_report["macro_f1"] > 0.9 and "macro_f1_at_0_5" in run.dev_report
    model = load(tmp_path / "model")
    assert isinstance(model.task_, MultiLabelTask)
    both, one = model.predict(["i am thrilled and stunned", "the team was furious"])
    assert both == "joy;surprise" and one == "anger"
    probabilities = model.predict_proba(["i am thrilled and stunned"])
    assert probabilities.sum() > 1.5  # independent sigmoids, not a softmax
    report = evaluate(
        model, str(emotion_data), split="dev", json_path=tmp_path / "dev.json",
        figure_path=tmp_path / "dev.png",
    )  # fmt: skip
    assert report["accuracy"] > 0.8 and report["per_class"]["joy"]["threshold"] > 0
    # no confusion matrix for several labels per review: no figure, and none named
    assert not (tmp_path / "dev.png").exists()
    assert "figure" not in json.loads((tmp_path / "dev.json").read_text())


def test_the_listed_labels_are_ordered_by_probability_before_rounding() -> None:
    from bertsent.models.base import prediction_rows

    task = MultiLabelTask(["joy", "surprise"])
    probabilities = np.array([[0.812341, 0.812359]])  # both 0.8123 at four digits
    (rounded,) = prediction_rows(task.labels, task, probabilities, digits=4)
    (exact,) = prediction_rows(task.labels, task, probabilities)
    assert rounded["labels"] == exact["labels"] == ["surprise", "joy"]


def test_thresholds_are_tuned_per_label_for_f1() -> None:
    task = MultiLabelTask(["a", "b"])
    # label a is on when its probability is above 0.3; label b above 0.7
    probabilities = np.array([[0.35, 0.75], [0.2, 0.6], [0.4, 0.9], [0.1, 0.65]])
    task.tune_thresholds(probabilities, ["a;b", "a", "a;b", "b"])
    assert task.decide(probabilities) != MultiLabelTask(["a", "b"]).decide(probabilities)
    assert task.thresholds[0] <= 0.2 and 0.6 < task.thresholds[1] <= 0.75


def test_a_label_the_tuning_examples_lack_keeps_0_5_and_metrics_count_present_labels() -> None:
    """Every threshold scores F1 0 for a label with no examples: the first, 0.05, was
    kept, and the label was then called for almost every review."""
    from bertsent.evaluation.metrics import multi_label_report

    task = MultiLabelTask(["a", "b", "c"])
    rng = np.random.default_rng(0)
    probabilities = np.column_stack([[0.9, 0.1] * 10, [0.1, 0.9] * 10, rng.uniform(0, 0.3, 20)])
    gold = ["a", "b"] * 10
    task.tune_thresholds(probabilities, gold)
    assert task.thresholds[2] == 0.5 and task.decide(probabilities) == gold
    # one label present: the F1 at 0.5 is that label's own, as macro_f1 is
    one = MultiLabelTask(["x", "y"])
    report = multi_label_report(["x", "x"], np.array([[0.9, 0.1], [0.2, 0.7]]), one)
    assert report["macro_f1"] == report["macro_f1_at_0_5"] == pytest.approx(2 / 3)


def test_predict_lists_labels_with_scores_and_top_k(
    emotion_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train(str(emotion_data), output_dir=tmp_path / "model", method="tfidf-lr")
    text = "i am thrilled and stunned"
    assert main(["-q", "predict", str(tmp_path / "model"), "--json", "--top-k", "3", text]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["label"] == "joy;surprise"
    assert [item["label"] for item in answer["top"]][:2] in (
        ["joy", "surprise"],
        ["surprise", "joy"],
    )
    assert len(answer["top"]) == 3
    assert answer["score"] == max(answer["scores"]["joy"], answer["scores"]["surprise"])


def test_the_predict_table_gives_each_label_a_column_or_lists_the_chosen_ones(
    emotion_data: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # rich's table fits the terminal: one line a row
    train(str(emotion_data), output_dir=tmp_path / "four", method="tfidf-lr")
    text = "i am thrilled and stunned"
    assert main(["-q", "predict", str(tmp_path / "four"), text]) == 0
    header, row = table_lines(capsys.readouterr().out)
    assert header[:3] == ["text", "label", "score"] and header[3:] == sorted(EMOTION_WORDS)
    scores = load(tmp_path / "four").predict_scores([text], digits=4)[0]["scores"]
    assert row[1] == "joy;surprise" and row[3:] == [f"{scores[k]:.4f}" for k in header[3:]]
    # eight labels are too many columns: the chosen ones are listed with their scores
    rows = [{"text": f"{w} and {w} again", "labels": f"l{w[1]}"} for w in EIGHT for _ in range(8)]
    rows += [
        {"text": f"{a} then {b}", "labels": f"l{a[1]};l{b[1]}"}
        for a in EIGHT
        for b in EIGHT
        if a < b
    ]
    write_csv(tmp_path / "eight" / "train.csv", rows)
    write_csv(tmp_path / "eight" / "dev.csv", rows[::3])
    train(str(tmp_path / "eight"), output_dir=tmp_path / "eight-model", method="tfidf-lr")
    assert main(["-q", "predict", str(tmp_path / "eight-model"), "w1 then w5"]) == 0
    header, row = table_lines(capsys.readouterr().out)
    assert header == ["text", "label", "score", "scores"]
    chosen = load(tmp_path / "eight-model").predict_scores(["w1 then w5"], digits=4)[0]
    assert row[1] == chosen["label"] == "l1;l5"
    assert row[3] == ", ".join(f"{k} {chosen['scores'][k]:.4f}" for k in ("l1", "l5"))


EIGHT = [f"w{i}" for i in range(8)]


def ours_of(model: Any, text: str) -> dict[str, float]:
    return dict(zip(model.labels_, model.predict_proba([text])[0].tolist(), strict=True))


def table_lines(printed: str) -> list[list[str]]:
    """The header and rows of a rich table, cell texts only."""
    lines = [line for line in printed.splitlines() if line.startswith("│") or line.startswith("┃")]
    return [
        [cell.strip() for cell in line.strip("│┃").split("│" if "│" in line[1:] else "┃")]
        for line in lines
    ]


def test_single_label_methods_and_models_refuse_several_labels(
    emotion_data: Path, trained_model_dir: Path, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match="bow-svm gives one label per review"):
        train(str(emotion_data), output_dir=tmp_path / "svm", method="bow-svm")
    with pytest.raises(ConfigError, match="a single-label model has one"):
        train(str(emotion_data), output_dir=tmp_path / "one", method="tfidf-lr",
              task="single-label")  # fmt: skip
    with pytest.raises(DataError, match=r"dev\.csv line \d+: '.*;.*' names several labels"):
        evaluate(trained_model_dir, str(emotion_data / "dev.csv"))


def test_bad_label_cells_are_named(emotion_data: Path, tmp_path: Path) -> None:
    rows = emotion_rows(40, seed=2)
    rows[5]["labels"] = ";"
    write_csv(tmp_path / "bad" / "train.csv", rows)
    write_csv(tmp_path / "bad" / "dev.csv", emotion_rows(20, seed=3))
    with pytest.raises(DataError, match=r"train\.csv line 7: no label in ';'"):
        load_dataset(str(tmp_path / "bad"))
    train(str(emotion_data), output_dir=tmp_path / "model", method="tfidf-lr")
    unknown = emotion_rows(10, seed=4)
    unknown[2]["labels"] = "joy;pride"
    write_csv(tmp_path / "unknown.csv", unknown)
    with pytest.raises(DataError, match=r"unknown\.csv line 4: label 'pride' is not one of"):
        evaluate(tmp_path / "model", str(tmp_path / "unknown.csv"))
    # a whole file scored by evaluate is checked too, not counted wrong in silence
    empty = emotion_rows(10, seed=5)
    empty[6]["labels"] = " ; "
    write_csv(tmp_path / "empty.csv", empty)
    with pytest.raises(DataError, match=r"empty\.csv line 8: no label in ';'"):
        evaluate(tmp_path / "model", str(tmp_path / "empty.csv"))
    # no confusion matrix: a user's PNG beside the JSON is neither written nor refused
    (tmp_path / "r.png").write_bytes(b"mine")
    command = ["-q", "evaluate", str(tmp_path / "model"), "--data", str(emotion_data / "dev.csv")]
    assert main([*command, "--json", str(tmp_path / "r.json")]) == 0
    assert (tmp_path / "r.png").read_bytes() == b"mine"
    assert main([*command, "--figure", str(tmp_path / "f.png")]) == 2


def test_a_multi_label_bert_declares_its_problem_type_for_transformers(
    emotion_data: Path, tiny_model_dir: Path, tmp_path: Path
) -> None:
    from transformers import pipeline

    output = tmp_path / "bert"
    command = ["-q", "train", "--data", str(emotion_data), "--model", str(tiny_model_dir),
               "--output", str(output), "--epochs", "1", "--batch-size", "16",
               "--max-length", "32"]  # fmt: skip
    assert main(command) == 0
    config = json.loads((output / "config.json").read_text())
    assert config["problem_type"] == "multi_label_classification"
    model = load(output)
    text = "i am thrilled and stunned"
    ours = model.predict_proba([text])[0]
    classify = pipeline("text-classification", model=str(output), device="cpu", top_k=None)
    (theirs,) = classify([text])
    by_label = {item["label"]: item["score"] for item in theirs}
    assert [by_label[label] for label in model.labels_] == pytest.approx(ours, abs=1e-5)
    assert sum(by_label.values()) != pytest.approx(1.0, abs=1e-3)  # sigmoids, not a softmax

    # explanations read the same sigmoids; the softmax walk-through of --math is refused
    from bertsent.explain.attributions import integrated_gradients
    from bertsent.explain.worked_example import worked_example

    explained = integrated_gradients(model, text, steps=4)
    # the map compares gold and predicted label sets: "surprise;joy" in the file is the
    # "joy;surprise" the model writes
    from bertsent.data.splits import Split
    from bertsent.explain.embedding_map import embedding_map

    rows = emotion_rows(60, seed=1)
    dev = Split("dev", [row["text"] for row in rows], [row["labels"] for row in rows])
    mapped = embedding_map(model, dev, sample=60)
    for cell, gold, predicted in zip(dev.labels, mapped.gold, mapped.predicted, strict=True):
        assert gold.split(";") == [label for label in model.labels_ if label in cell.split(";")]
        assert (gold == predicted) == (set(gold.split(";")) == set(predicted.split(";")))

    assert explained.probability == pytest.approx(max(ours), abs=1e-4)
    with pytest.raises(ConfigError, match="this multi-label model has one sigmoid per label"):
        worked_example(model, text)

    # the report reads the task's metrics: thresholds, no confusion matrix, label sets
    from bertsent.report.build import build_report

    page = build_report(output, tmp_path / "report.html", split="dev", sample=60)
    html = page.read_text(encoding="utf-8")
    assert "at the per-label thresholds tuned on dev" in html and "<th>threshold</th>" in html
    assert 'alt="confusion matrix"' not in html and 'id="embedding"' in html
    assert "Not in this report: the behaviour suite asks which side one review is on" in html
    assert "Not in this report: the worked example (--math) works through the softmax" in html
    assert 'alt="attributions"' in html  # the puzzles explained toward their top label
    from bertsent.evaluation.puzzles import PUZZLES

    for puzzle, _ in PUZZLES:  # each card says what the model answers: a set of labels
        answered = model.predict([puzzle])[0]
        top = max(answered.split(";"), key=lambda name: ours_of(model, puzzle)[name])
        said = f"Predicted <b>{answered}</b>"
        assert said + (f", explained toward <b>{top}</b>" if top != answered else " (") in html

    from bertsent.inference.export import export_onnx

    record = export_onnx(output)
    assert record["graphs"]["onnx"]["agreement_with_torch"] == 1.0
    onnx = load(output, backend="onnx").predict_proba([text])[0]
    assert onnx == pytest.approx(ours, abs=1e-4)


def test_compare_keeps_the_methods_with_one_output_per_label(
    emotion_data: Path, tmp_path: Path
) -> None:
    from bertsent.comparison.compare import compare

    result = compare(str(emotion_data), methods=["tfidf-lr"], output_dir=tmp_path)
    (row,) = result["rows"]
    assert row["accuracy"] > 0.8 and row["behaviour_pass_rate"] is None
    # a chosen method that cannot learn the data is refused before anything trains
    with pytest.raises(ConfigError, match=r"--methods lstm: it cannot learn several labels"):
        compare(str(emotion_data), methods=["tfidf-lr", "lstm"], output_dir=tmp_path / "two")
    assert not (tmp_path / "two" / "models").exists()
    with pytest.raises(ConfigError, match="--methods nbsvm: it cannot learn several labels"):
        compare(str(emotion_data), methods=["nbsvm"], output_dir=tmp_path / "other")
    from bertsent.comparison.learning_curve import learning_curve

    with pytest.raises(ConfigError, match="--methods bow-svm: it cannot learn several labels"):
        learning_curve(str(emotion_data), methods=["bow-svm", "tfidf-lr"], sizes=[40],
                       output_dir=tmp_path / "curve")  # fmt: skip
    # the default list, asked for by name, is a choice too: refused, not cut down
    with pytest.raises(ConfigError, match="--methods bow-svm: it cannot learn several labels"):
        learning_curve(str(emotion_data), methods=["bow-svm", "tfidf-lr", "bert"], sizes=[40],
                       output_dir=tmp_path / "curve")  # fmt: skip
    assert not (tmp_path / "curve").exists()


def test_the_http_service_answers_every_chosen_label(emotion_data: Path, tmp_path: Path) -> None:
    import httpx

    from tests.serve.conftest import start_server

    train(str(emotion_data), output_dir=tmp_path / "model", method="tfidf-lr")
    text = "thrilled and stunned"
    server = start_server(tmp_path / "model")
    try:
        answer = httpx.post(f"{server.url}/v1/predict", json={"texts": [text]})
        schema = httpx.get(f"{server.url}/openapi.json").json()["components"]["schemas"]
    finally:
        server.stop()
    (prediction,) = answer.json()["predictions"]
    assert prediction["label"] == "joy;surprise" and len(prediction["scores"]) == 4
    assert prediction == load(tmp_path / "model").predict_scores([text])[0]
    # the chosen labels as a list too, most probable first, and required in the schema
    scores = prediction["scores"]
    assert prediction["labels"] == sorted(["joy", "surprise"], key=lambda name: -scores[name])
    assert "labels" in schema["Prediction"]["required"]
    assert "intensity" not in schema["Prediction"]["properties"]


def test_the_page_shows_each_chosen_label_with_its_score(
    emotion_data: Path, tmp_path: Path
) -> None:
    from tests.conftest import CHROMIUM
    from tests.serve.conftest import analyse_in_page, start_server

    if CHROMIUM is None:
        pytest.skip("needs Debian's chromium (apt-get install chromium); .ci/run installs it")
    train(str(emotion_data), output_dir=tmp_path / "model", method="tfidf-lr")
    text = "thrilled and stunned"
    server = start_server(tmp_path / "model")
    try:
        shown = analyse_in_page(
            server.url, {"#text": text}, ("#label",), {"chosen": CHOSEN_IN_PAGE}
        )
    finally:
        server.stop()
    (expected,) = load(tmp_path / "model").predict_scores([text])
    assert shown["#label"] == ", ".join(expected["labels"])
    scores = expected["scores"]
    assert shown["chosen"] == [f"{name} {100 * scores[name]:.1f}%" for name in expected["labels"]]


CHOSEN_IN_PAGE = "Array.from(document.querySelectorAll('.chosen')).map(e => e.textContent)"


def test_model_selection_counts_a_gold_cell_in_any_label_order(tmp_path: Path) -> None:
    from bertsent.models.baselines import TfidfLrClassifier

    rows = emotion_rows(240, seed=0)
    texts, gold = [r["text"] for r in rows], [r["labels"] for r in rows]
    assert any(cell.split(";") != sorted(cell.split(";")) for cell in gold)  # "surprise;joy"
    model = TfidfLrClassifier(C=10.0).fit(texts, gold, eval_texts=texts, eval_labels=gold)
    correct = MultiLabelTask(model.labels_).correct(model.predict_proba(texts), gold)
    assert model.history_[0]["dev_accuracy"] == pytest.approx(float(correct.mean()), abs=1e-4)


def test_learning_curve_points_are_scored_with_thresholds_tuned_on_dev_as_compare_does(
    tmp_path: Path,
) -> None:
    """compare's full-train runs become the curve's last point: both use tuned thresholds.

    A third of the reviews name one emotion and are labelled with another too, so the
    probabilities sit where a threshold other than 0.5 decides differently."""
    from bertsent.comparison.compare import compare
    from bertsent.comparison.learning_curve import learning_curve
    from bertsent.data.splits import held_out_splits

    rng = random.Random(3)
    for split, (n, seed) in {"train": (300, 0), "dev": (90, 1)}.items():
        rows = emotion_rows(n, seed)
        for row in rows[::3]:
            row["labels"] = ";".join(
                sorted({*row["labels"].split(";"), rng.choice(sorted(EMOTION_WORDS))})
            )
        write_csv(tmp_path / "data" / f"{split}.csv", rows)
    data = str(tmp_path / "data")
    full = len(held_out_splits(load_dataset(data)).train)
    curve = learning_curve(data, methods=["tfidf-lr"], sizes=[full], seeds=1,
                           output_dir=tmp_path / "curve")  # fmt: skip
    compared = compare(data, methods=["tfidf-lr"], output_dir=tmp_path / "compare")
    assert curve["methods"]["tfidf-lr"]["mean"] == [round(compared["rows"][0]["accuracy"], 4)]
    test = held_out_splits(load_dataset(data)).split("test")  # dev.csv: there is no test
    model = load(compared["runs"][0]["model_dir"])
    at_half = MultiLabelTask(model.labels_).correct(model.predict_proba(test.texts), test.labels)
    assert round(float(at_half.mean()), 4) != curve["methods"]["tfidf-lr"]["mean"][0]
