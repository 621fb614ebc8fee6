"""Zero-shot: label descriptions against mean-pooled sentence embeddings, no training."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import httpx
import numpy as np
import pytest

from bertsent.cli import main
from bertsent.data import DatasetSplits
from bertsent.errors import ConfigError, ModelError
from bertsent.models import create, load
from bertsent.models.sentence_encoder import HEAD_FILE
from bertsent.models.zero_shot import ZeroShotClassifier, parse_label_descriptions
from bertsent.pipeline import train
from bertsent.training.config import TrainingConfig

DESCRIBED = "positive=a great movie, I loved it;negative=a terrible movie, I hated it"


@pytest.fixture(scope="module")
def packaged(synthetic_splits: DatasetSplits) -> ZeroShotClassifier:
    """The packaged all-MiniLM-L6-v2 with described labels, temperature fitted on dev."""
    dev = synthetic_splits.dev
    model = ZeroShotClassifier(descriptions=DESCRIBED)
    return model.fit([], [], eval_texts=dev.texts, eval_labels=dev.labels)


def test_the_packaged_encoder_classifies_without_any_training_example(
    packaged: ZeroShotClassifier, synthetic_splits: DatasetSplits
) -> None:
    test = synthetic_splits.test
    accuracy = np.mean(np.array(packaged.predict(test.texts)) == np.array(test.labels))
    assert accuracy >= 0.85, f"zero-shot reached only {accuracy:.2f}"
    assert packaged.labels_ == ["positive", "negative"]  # the descriptions' order
    assert packaged.train_hashes_ is not None and len(packaged.train_hashes_) == 40  # dev only


def test_numpy_arrays_are_taken_as_the_estimators_promise(synthetic_splits: DatasetSplits) -> None:
    dev = synthetic_splits.dev  # `if calibration_texts:` raised on an array
    model = ZeroShotClassifier(descriptions=DESCRIBED).fit(
        np.array([], dtype=str), np.array([], dtype=str),
        eval_texts=np.array(dev.texts), eval_labels=np.array(dev.labels),
    )  # fmt: skip
    assert model.labels_ == ["positive", "negative"] and model.best_["temperature"] > 0


def test_training_scores_dev_in_the_models_own_label_order(
    synthetic_splits: DatasetSplits, tmp_path: Path
) -> None:
    # the descriptions name positive first; the data's sorted labels, negative first
    run = train(
        synthetic_splits, None, tmp_path / "zs", method=ZeroShotClassifier(descriptions=DESCRIBED)
    )
    dev = synthetic_splits.dev
    accuracy = float(np.mean(np.array(run.model.predict(dev.texts)) == np.array(dev.labels)))
    assert accuracy >= 0.85
    assert run.dev_report["accuracy"] == pytest.approx(accuracy)  # was its complement
    saved = json.loads((tmp_path / "zs" / "bertsent.json").read_text())
    assert saved["metrics"]["dev"]["accuracy"] == pytest.approx(accuracy)


def test_the_temperature_is_fitted_on_dev_and_only_calibrates(
    packaged: ZeroShotClassifier, synthetic_splits: DatasetSplits
) -> None:
    from bertsent.models.zero_shot import fit_temperature

    dev = synthetic_splits.dev
    temperature = packaged.best_["temperature"]
    cosines = packaged.logits(dev.texts) * temperature  # logits are cosine / temperature
    assert np.abs(cosines).max() <= 1.0 + 1e-5
    gold = np.array([packaged.labels_.index(label) for label in dev.labels])
    fitted, nll = fit_temperature(cosines, gold)
    assert fitted == pytest.approx(temperature, rel=1e-3)
    scaled = cosines / 0.05  # sentence-transformers' scale: the default without labels
    scaled -= scaled.max(axis=1, keepdims=True)
    log_probabilities = scaled - np.log(np.exp(scaled).sum(axis=1, keepdims=True))
    assert nll < -log_probabilities[np.arange(40), gold].mean()
    # the decisions do not depend on the temperature
    assert (cosines.argmax(1) == packaged.predict_proba(dev.texts).argmax(1)).all()
    assert packaged.history_[0]["calibration_size"] == 40


def test_saved_folder_reloads_and_is_a_plain_encoder_folder(
    packaged: ZeroShotClassifier, tmp_path: Path
) -> None:
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModel, AutoTokenizer

    folder = packaged.save(tmp_path / "zero-shot")
    texts = ["a wonderful film", "dreadful and dull", ""]
    loaded = load(folder)
    assert type(loaded) is ZeroShotClassifier and loaded.descriptions_ == packaged.descriptions_
    # what the fit found comes back with it: the temperature, and the calibration behind it
    assert loaded.best_ == packaged.best_ and loaded.history_ == packaged.history_
    expected = packaged.predict_proba(texts)
    np.testing.assert_allclose(loaded.predict_proba(texts), expected, atol=1e-6)
    # plain transformers: mean-pool, unit length, cosine with the saved label vectors
    encoder = AutoModel.from_pretrained(folder, use_safetensors=True).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    head = load_file(str(folder / HEAD_FILE))
    inputs = tokenizer(texts[:2], padding=True, return_tensors="pt")
    with torch.inference_mode():
        hidden = encoder(**inputs).last_hidden_state
    mask = inputs["attention_mask"].unsqueeze(-1)
    vectors = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)
    logits = vectors @ head["weight"].T + head["bias"]
    np.testing.assert_allclose(
        torch.softmax(logits, -1).numpy(), packaged.predict_proba(texts[:2]), atol=1e-5
    )
    modules = json.loads((folder / "modules.json").read_text())
    assert [m["type"].rsplit(".", 1)[1] for m in modules] == ["Transformer", "Pooling", "Normalize"]
    # a head copied from a model with another label count is refused, not scored
    from safetensors.torch import save_file

    save_file({"weight": head["weight"][:1].contiguous(), "bias": head["bias"][:1].contiguous()},
              str(folder / HEAD_FILE))  # fmt: skip
    with pytest.raises(ModelError, match=r"does not fit the encoder beside it: .*\(2, 384\)"):
        load(folder)


def test_descriptions_parse_and_must_cover_the_data_labels() -> None:
    assert parse_label_descriptions("fresh;rotten") == {
        "fresh": "a great movie, I loved it",
        "rotten": "a terrible movie, I hated it",
    }
    assert parse_label_descriptions("good=fine, solid film;bad")["bad"] == "bad"
    with pytest.raises(ConfigError, match="'good' is given twice"):
        parse_label_descriptions("good;good=x")
    with pytest.raises(ConfigError, match="no label name"):
        parse_label_descriptions("=x;bad")
    model = ZeroShotClassifier(descriptions="good;bad")
    with pytest.raises(ConfigError, match=r"labels 'neutral' that the label descriptions"):
        model.fit(["fine"], ["neutral"])
    with pytest.raises(ConfigError, match="needs label descriptions or labelled examples"):
        ZeroShotClassifier().fit([], [])
    with pytest.raises(ConfigError, match="not multi-label"):
        ZeroShotClassifier().fit(["a", "b"], ["joy;surprise", "anger"])
    with pytest.raises(ConfigError, match="cannot judge a sentence towards an aspect"):
        ZeroShotClassifier().fit(["The battery dies [SEP] battery"], ["negative"])
    with pytest.raises(ConfigError, match="no setting labels"):
        create("zero-shot", labels="good;bad")


def test_common_label_names_get_their_sides_description_in_any_case(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """'pos'/'neg' or GLUE's '1'/'0' were embedded as those bare words: near random."""
    from bertsent.models.zero_shot import known_description

    loved, hated = "a great movie, I loved it", "a terrible movie, I hated it"
    assert known_description("Positive") == loved
    assert [known_description(n, ["pos", "neg"]) for n in ("pos", "neg")] == [loved, hated]
    assert [known_description(n, ["0", "1"]) for n in ("1", "0")] == [loved, hated]
    assert not caplog.records
    assert known_description("3", ["1", "3", "5"]) == "3"  # stars: no side to read
    assert "no description for label '3'" in caplog.text


@pytest.mark.slow
def test_cli_trains_predicts_exports_and_serves_a_zero_shot_model(
    tiny_model_dir: Path, dataset_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The tiny random encoder stands in for the packaged one: the plumbing is the test."""
    from bertsent.inference.export import export_onnx
    from tests.serve.conftest import start_server

    output = tmp_path / "model"
    args = ["-q", "train", "--data", str(dataset_dir), "--method", "zero-shot"]
    assert main([*args, "--model", str(tiny_model_dir), "--output", str(output),
                 "--labels", "positive=great;negative=awful"]) == 0  # fmt: skip
    assert "zero-shot (temperature" in capsys.readouterr().out
    assert json.loads((output / "bertsent.json").read_text())["descriptions"] == {
        "positive": "great",
        "negative": "awful",
    }
    assert main(["train", "--data", str(dataset_dir), "--output", str(tmp_path / "b"),
                 "--labels", "a;b"]) != 0  # fmt: skip
    assert "--labels describes the labels of --method zero-shot" in capsys.readouterr().err
    exported = tmp_path / "exported"
    shutil.copytree(output, exported)
    record = export_onnx(exported)
    assert record["graphs"]["onnx"]["agreement_with_torch"] == 1.0
    texts = ["a great film", "awful", "the plot " * 30]
    np.testing.assert_allclose(
        load(exported, backend="onnx").predict_proba(texts),
        load(exported).predict_proba(texts),
        atol=1e-4,
    )
    server = start_server(output)
    try:
        answer = httpx.post(f"{server.url}/v1/predict", json={"texts": texts}, timeout=30)
        assert answer.status_code == 200, answer.text
        served = [row["scores"]["positive"] for row in answer.json()["predictions"]]
        np.testing.assert_allclose(served, load(output).predict_proba(texts)[:, 0], atol=1e-4)
    finally:
        server.stop()


def test_config_model_is_the_encoder(tiny_model_dir: Path) -> None:
    config = TrainingConfig(model=str(tiny_model_dir))
    model = create("zero-shot", config=config, descriptions="a;b")
    fitted = model.fit([], [])
    assert fitted.describe() == str(tiny_model_dir)
    assert fitted.model_.config.hidden_size == 32 and fitted.best_["temperature"] == 0.05
