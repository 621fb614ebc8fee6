"""ONNX export: measured graphs, the same predictions as PyTorch, refusal of unmeasured ones."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from bertsent.errors import ConfigError, ModelError
from bertsent.inference.export import export_onnx
from bertsent.models import load


@pytest.fixture(scope="module")
def exported_dir(trained_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("export") / "model"
    shutil.copytree(trained_model_dir, folder)
    export_onnx(folder, int8=True)
    return folder


def test_export_records_accuracy_and_agreement_per_graph(exported_dir: Path) -> None:
    record = json.loads((exported_dir / "onnx" / "exports.json").read_text())
    assert record["measured_on"]["split"] == "dev" and record["measured_on"]["size"] > 0
    assert set(record["graphs"]) == {"onnx", "onnx-int8"}
    fp32 = record["graphs"]["onnx"]
    assert fp32["agreement_with_torch"] == 1.0 and fp32["max_probability_difference"] < 1e-4
    assert fp32["accuracy"] == pytest.approx(record["torch_accuracy"])
    int8 = record["graphs"]["onnx-int8"]
    assert int8["bytes"] < fp32["bytes"] / 2  # int8 weights
    assert 0.0 <= int8["accuracy"] <= 1.0 and int8["agreement_with_torch"] > 0.8


def test_onnx_backends_predict_like_torch(exported_dir: Path) -> None:
    texts = ["a great and moving film", "dull and tedious", "", "the plot " * 40]
    torch_probabilities = load(exported_dir).predict_proba(texts)
    onnx = load(exported_dir, backend="onnx")
    np.testing.assert_allclose(onnx.predict_proba(texts), torch_probabilities, atol=1e-4)
    int8 = load(exported_dir, backend="onnx-int8")
    assert np.abs(int8.predict_proba(texts) - torch_probabilities).max() < 0.2
    # the saved folder still loads with plain transformers
    from transformers import AutoModelForSequenceClassification

    AutoModelForSequenceClassification.from_pretrained(exported_dir, use_safetensors=True)


def test_unexported_or_changed_graphs_are_refused(
    exported_dir: Path, trained_model_dir: Path, tmp_path: Path
) -> None:
    with pytest.raises(ModelError, match="bertsent export"):
        load(trained_model_dir, backend="onnx")
    changed = tmp_path / "model"
    shutil.copytree(exported_dir, changed)
    with (changed / "onnx" / "model-int8.onnx").open("ab") as graph:
        graph.write(b"\0")
    with pytest.raises(ModelError, match="changed since it was measured"):
        load(changed, backend="onnx-int8")
    with pytest.raises(ConfigError, match="unknown backend"):
        load(exported_dir, backend="tensorrt")
