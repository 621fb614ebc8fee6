"""The batching engine: vectorised padding, streamed chunks, half-precision weights."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch

import bertsent.encoders.engine as engine_module
from bertsent.encoders.engine import TorchEngine
from bertsent.encoders.tokenization import pad_ids
from bertsent.errors import ConfigError
from bertsent.hardware import attention_without_cudnn
from bertsent.models import load

TEXTS = [f"{'a really ' * (i % 9)}great film number {i}" for i in range(37)] + ["", "dull"]


def test_pad_ids_matches_a_row_by_row_padding() -> None:
    rng = np.random.default_rng(0)
    sequences = [list(rng.integers(1, 99, size=n)) for n in (5, 1, 9, 3)]
    input_ids, mask = pad_ids(sequences, pad_id=0)
    assert input_ids.shape == mask.shape == (4, 9)
    for row, ids in enumerate(sequences):
        assert input_ids[row, : len(ids)].tolist() == ids
        assert input_ids[row, len(ids) :].tolist() == [0] * (9 - len(ids))
        assert mask[row].tolist() == [1] * len(ids) + [0] * (9 - len(ids))


def test_streamed_chunks_give_the_same_logits_in_input_order(trained_model_dir: Path) -> None:
    model = load(trained_model_dir)
    whole = TorchEngine(model.model_, model.tokenizer_, max_length=32)  # type: ignore[attr-defined]
    streamed = TorchEngine(
        model.model_,  # type: ignore[attr-defined]
        model.tokenizer_,  # type: ignore[attr-defined]
        max_length=32,
        batch_size=4,
        chunk_size=7,  # 6 chunks: 5 tokenised in the background while the previous one ran
    )
    expected = whole.logits(TEXTS)
    np.testing.assert_allclose(streamed.logits(TEXTS), expected, atol=1e-5)
    one_by_one = np.concatenate([whole.logits([text]) for text in TEXTS])
    np.testing.assert_allclose(expected, one_by_one, atol=1e-5)


def test_batches_are_sorted_by_length_within_a_chunk_and_padded_to_their_own_longest(
    trained_model_dir: Path,
) -> None:
    """Padding every batch to the chunk's longest text (or batching in input order)
    would waste the compute this engine exists to save."""
    model = load(trained_model_dir)
    engine = TorchEngine(model.model_, model.tokenizer_, max_length=32, batch_size=4, chunk_size=20)  # type: ignore[attr-defined]
    seen: list[int] = []
    for rows, input_ids, mask in engine.batches(TEXTS):
        lengths = mask.sum(axis=1)
        assert input_ids.shape[1] == lengths.max()  # its own longest, no more
        assert lengths.tolist() == sorted(lengths.tolist(), reverse=True)  # longest first
        seen += rows.tolist()
    assert sorted(seen) == list(range(len(TEXTS)))  # every text once
    first_chunk = [row for row in seen if row < 20]
    widths = [len(engine._encode([TEXTS[row]])[0]) for row in first_chunk]
    assert widths == sorted(widths, reverse=True)  # sorted across the chunk's batches


@pytest.mark.parametrize("batch_size", [0, -1])
def test_a_batch_size_below_one_is_refused_not_scored_as_zeros(
    trained_model_dir: Path, batch_size: int
) -> None:
    model = load(trained_model_dir)
    with pytest.raises(ConfigError, match=f"batch size must be at least 1, got {batch_size}"):
        TorchEngine(model.model_, model.tokenizer_, batch_size=batch_size)  # type: ignore[attr-defined]


def test_bf16_weights_run_on_any_cpu_close_to_fp32(trained_model_dir: Path) -> None:
    fp32 = load(trained_model_dir)
    bf16 = load(trained_model_dir, backend="torch-bf16")
    assert next(bf16.model_.parameters()).dtype == torch.bfloat16  # type: ignore[attr-defined]
    difference = np.abs(bf16.predict_proba(TEXTS) - fp32.predict_proba(TEXTS)).max()
    assert difference < 0.05  # bf16 keeps 8 bits of mantissa


def test_every_forward_runs_inside_the_attention_choice_for_its_device(
    trained_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    devices: list[str] = []

    @contextmanager
    def recording(device: str) -> Iterator[None]:
        devices.append(device)
        with attention_without_cudnn(device):
            yield

    monkeypatch.setattr(engine_module, "attention_without_cudnn", recording)
    load(trained_model_dir, batch_size=2).predict_proba(TEXTS)
    assert len(devices) == -(-len(TEXTS) // 2) and set(devices) == {"cpu"}  # one a batch


def test_fp16_weights_need_a_gpu(trained_model_dir: Path) -> None:
    with pytest.raises(ConfigError, match="needs a CUDA GPU"):
        load(trained_model_dir, backend="torch-fp16")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (none here)")
@pytest.mark.parametrize("backend", ["torch", "torch-bf16", "torch-fp16"])
def test_gpu_backends_match_the_cpu(trained_model_dir: Path, backend: str) -> None:
    cpu = load(trained_model_dir).predict_proba(TEXTS)
    gpu = load(trained_model_dir, backend=backend, device="cuda")
    assert next(gpu.model_.parameters()).device.type == "cuda"  # type: ignore[attr-defined]
    assert np.abs(gpu.predict_proba(TEXTS) - cpu).max() < 0.05


@pytest.mark.parametrize(
    ("limit", "expected"), [("250000 100000\n", 2), ("150000 100000\n", 1), ("max 100000\n", 64)]
)
def test_a_containers_cpu_limit_caps_the_thread_count(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limit: str, expected: int
) -> None:
    """`docker --cpus 2.5` on a 64-core host: affinity shows 64 cores, cpu.max the limit
    (whole cores: 1.5 CPUs run one thread)."""
    import os

    from bertsent.encoders import engine

    (tmp_path / "cpu.max").write_text(limit)
    monkeypatch.setattr(engine, "CGROUP_CPU_LIMIT", str(tmp_path / "cpu.max"))
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(64)))
    assert engine.cpu_threads() == expected


def test_training_threads_stay_within_a_containers_cpu_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Training kept torch's count of the host's cores under a `--cpus 1` limit."""
    before = torch.get_num_threads()
    monkeypatch.setattr(engine_module, "_asked_threads", [])  # nothing asked for yet
    try:
        torch.set_num_threads(2)  # torch's count of the host's cores
        monkeypatch.setattr(engine_module, "cpu_threads", lambda: 1)  # the container's limit
        engine_module.use_threads(None)
        assert torch.get_num_threads() == 1
        engine_module.use_threads(3)  # given: as given, over the limit too
        assert torch.get_num_threads() == 3
        # a method that caps its own threads (the BiLSTM's fit) keeps the count asked for
        engine_module.use_threads(None)
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)
