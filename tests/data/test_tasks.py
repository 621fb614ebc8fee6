"""Tasks: read from the labels, saved with the model, and asked for their outputs."""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from bertsent.data.splits import DatasetSplits, Split
from bertsent.data.tasks import (
    FIVE_POINT,
    FineGrainedTask,
    Task,
    detect_task,
    join_aspect,
    ordinal_scale,
)
from bertsent.errors import ConfigError
from bertsent.evaluation.behaviour import BehaviourTest, Case, positive_strength, run_suite
from bertsent.models import load
from bertsent.models.base import prediction_rows
from bertsent.pipeline import train
from tests.conftest import FixedClassifier

WORDS = {"very negative": "atrocious", "negative": "weak", "neutral": "average",
         "positive": "nice", "very positive": "sublime"}  # fmt: skip


def five_class_splits() -> DatasetSplits:
    rng = random.Random(0)
    filler = ["the", "plot", "cast", "film", "was", "and", "ending", "quite"]

    def split(name: str, n: int) -> Split:
        labels = [FIVE_POINT[i % 5] for i in range(n)]
        texts = [" ".join([*rng.sample(filler, 3), WORDS[label]]) for label in labels]
        return Split(name, texts, labels)

    return DatasetSplits("stars", train=split("train", 150), dev=split("dev", 50))


@pytest.mark.parametrize(
    ("labels", "scale"),
    [
        (["positive", "very negative", "neutral", "negative", "very positive"], list(FIVE_POINT)),
        (["Positive", "Negative", "Neutral"], ["Negative", "Neutral", "Positive"]),
        (["3", "1", "5", "2", "4"], ["1", "2", "3", "4", "5"]),
        (["negative", "positive"], None),  # two classes: the score already orders them
        (["joy", "anger", "fear"], None),
        (["very negative", "negative", "neutral"], None),  # one side only
    ],
)
def test_ordinal_scales_are_recognised(labels: list[str], scale: list[str] | None) -> None:
    assert ordinal_scale(labels) == scale


def test_detect_task_reads_the_labels_or_takes_the_request() -> None:
    assert type(detect_task(["negative", "positive"])) is Task
    assert isinstance(detect_task(list(FIVE_POINT)), FineGrainedTask)
    assert type(detect_task(list(FIVE_POINT), "single-label")) is Task
    with pytest.raises(ConfigError, match="needs ordered labels; these are joy, anger"):
        detect_task(["joy", "anger", "fear"], "fine-grained")
    with pytest.raises(ConfigError, match="unknown task 'ordinal'"):
        detect_task(["a", "b"], "ordinal")


@pytest.mark.parametrize("requested", ["single-label", "fine-grained"])
def test_aspect_pairs_are_refused_for_a_task_that_reads_reviews_alone(requested: str) -> None:
    # such a model learned the pairs, then dropped every row's aspect when it predicted
    pairs = [join_aspect("The hinge broke", "hinge"), join_aspect("Great camera", "camera")]
    with pytest.raises(ConfigError, match=f"a {requested} model would learn the pairs"):
        detect_task(list(FIVE_POINT), requested, pairs, ["very negative", "very positive"])


def test_a_scale_with_a_gap_places_its_labels_by_name_or_value_not_rank() -> None:
    """By rank, "neutral" of four labels sat at -0.33 and read as negative."""
    four = FineGrainedTask(["negative", "neutral", "positive", "very positive"])
    assert four.positions.tolist() == [-0.5, 0.0, 0.5, 1.0]
    stars = FineGrainedTask(["1", "3", "4", "5"])
    assert stars.positions.tolist() == [-1.0, 0.0, 0.5, 1.0]


def test_intensity_is_the_expected_place_on_the_scale() -> None:
    task = FineGrainedTask(sorted(FIVE_POINT))  # model columns in sorted label order
    column = {label: i for i, label in enumerate(task.labels)}

    def mass(**shares: float) -> np.ndarray:
        row = np.zeros(5)
        for name, share in shares.items():
            row[column[name.replace("_", " ")]] = share
        return row

    rows = np.stack([mass(very_positive=1.0), mass(positive=0.5, very_positive=0.5),
                     mass(positive=1.0), mass(neutral=1.0), mass(very_negative=1.0)])  # fmt: skip
    assert task.intensity(rows).tolist() == [1.0, 0.75, 0.5, 0.0, -1.0]
    # an abstention (an LLM that named no label) has no place, not neutral's 0
    abstained = prediction_rows(task.labels, task, np.zeros((1, 5)))[0]
    assert abstained["label"] == "abstained" and abstained["intensity"] is None


def test_a_fine_grained_model_saves_its_task_and_scores_intensity(tmp_path: Path) -> None:
    run = train(five_class_splits(), output_dir=tmp_path / "model", method="tfidf-lr")
    saved = json.loads((tmp_path / "model" / "bertsent.json").read_text())
    assert saved["task"] == {"name": "fine-grained", "scale": list(FIVE_POINT)}
    model = load(tmp_path / "model")
    assert isinstance(model.task_, FineGrainedTask) and model.task_ == run.model.task_
    texts = ["the film was sublime", "the film was average", "the film was atrocious"]
    high, middle, low = (scored["intensity"] for scored in model.predict_scores(texts))
    assert 1 >= high > middle > low >= -1 and high > 0 > low

    source, output = tmp_path / "in.csv", tmp_path / "out.csv"
    source.write_text("text\nthe cast was nice\n", encoding="utf-8")
    from bertsent.cli import main

    assert main(["-q", "predict", str(tmp_path / "model"), "--input", str(source),
                 "--output", str(output)]) == 0  # fmt: skip
    with output.open(encoding="utf-8", newline="") as handle:
        row = next(csv.DictReader(handle))
    assert float(row["intensity"]) == pytest.approx(
        model.predict_scores(["the cast was nice"])[0]["intensity"], abs=1e-5
    )


def test_single_label_can_be_asked_for_ordered_labels(tmp_path: Path) -> None:
    run = train(
        five_class_splits(), output_dir=tmp_path / "model", method="tfidf-lr", task="single-label"
    )
    assert "intensity" not in run.model.predict_scores(["nice"])[0]
    assert json.loads((tmp_path / "model" / "bertsent.json").read_text())["task"] == {
        "name": "single-label"
    }


class MoreOfTheSameSide(FixedClassifier):
    """'really good' moves mass from positive to very positive: the sides' odds stay the
    same, the intensity rises."""

    method = "fixed"

    def __init__(self) -> None:
        self.labels_ = sorted(FIVE_POINT)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        rows = []
        for text in texts:
            share = 0.6 if "really" in text else 0.1
            row = dict.fromkeys(self.labels_, 0.0) | {"positive": 1 - share, "very positive": share}
            rows.append([row[label] for label in self.labels_])
        return np.array(rows)


def test_the_behaviour_suite_reads_intensity_from_fine_grained_models() -> None:
    test = BehaviourTest("intensifier", "intensity", "dir", "up",
                         (Case(("The film is good.", "The film is really good."), "up",
                               "positive"),))  # fmt: skip
    model = MoreOfTheSameSide()
    assert run_suite(model, [test])["tests"][0]["failures"] == 0
    model.task_ = Task(model.labels_)  # the sides' log-odds alone cannot see the change
    assert run_suite(model, [test])["tests"][0]["failures"] == 1


def test_how_positive_a_text_is_reads_intensity_from_fine_grained_models() -> None:
    texts = ["The film is good.", "The film is really good."]
    model = MoreOfTheSameSide()
    strength, measure = positive_strength(model, texts)
    assert measure == "intensity" and strength[texts[1]] > strength[texts[0]]
    model.task_ = Task(model.labels_)
    strength, measure = positive_strength(model, texts)
    assert measure == "log_odds" and strength[texts[1]] == pytest.approx(strength[texts[0]])


def test_the_http_service_answers_intensity_for_a_fine_grained_model(tmp_path: Path) -> None:
    import httpx

    from tests.serve.conftest import analyse_in_page, start_server

    train(five_class_splits(), output_dir=tmp_path / "model", method="tfidf-lr")
    server = start_server(tmp_path / "model")
    try:
        answer = httpx.post(f"{server.url}/v1/predict", json={"texts": ["it was sublime"]})
        schema = httpx.get(f"{server.url}/openapi.json").json()
        # the page shows how strong, which is what a fine-grained model is for
        shown = analyse_in_page(server.url, {"#text": "it was sublime"}, ("#intensity",))
        page = httpx.get(f"{server.url}/").text
    finally:
        server.stop()
    expected = load(tmp_path / "model").predict_scores(["it was sublime"])[0]["intensity"]
    assert answer.json()["predictions"][0]["intensity"] == pytest.approx(expected, abs=1e-6)
    assert shown["#intensity"] == f"intensity {expected:+.2f}"
    # the server's limit on a text, on the aspect field too (it had 200 whatever the limit)
    assert page.count('maxlength="5000"') == 2
    prediction = schema["components"]["schemas"]["Prediction"]
    assert "intensity" in prediction["properties"] and "intensity" in prediction["required"]
