"""Reading an export record: which graph a backend runs, and which backend ``auto`` picks.

``bertsent export`` (:mod:`bertsent.inference.export`) measures each graph and writes
``onnx/exports.json``; models read it here, below the code that writes it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import platform
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from bertsent.errors import ModelError
from bertsent.hardware import cpu_flags, cpu_has_fast_bf16

logger = logging.getLogger(__name__)

# listed without importing torch, so the CLI can offer them at once
BACKENDS = ("auto", "torch", "torch-bf16", "torch-fp16", "onnx", "onnx-int8")
ONNX_FOLDER = "onnx"
RECORD_FILE = "exports.json"
GRAPH_FILES = {"onnx": "model.onnx", "onnx-int8": "model-int8.onnx"}
ACCURACY_BAND = 0.003  # ``auto`` keeps backends within 0.3 points of fp32 PyTorch
# ...that also decide as it does on this share of the reviews measured: accuracy alone
# can hide many flipped decisions (multi-label sets near their thresholds, say)
MIN_AGREEMENT = 0.95


def hardware_key() -> dict[str, Any]:
    """What makes CPU speeds comparable between machines: the CPU's kind and flags.

    ``bertsent export`` measures every backend on the CPU. The flags (AVX2, AVX-512,
    VNNI, BF16, AMX) decide which is fastest; they are read without importing torch, so
    ``--backend auto`` costs nothing at start-up.
    """
    return {"device": "cpu", "machine": platform.machine(), "cpu_flags": cpu_flags()}


def fastest_within_band(record: dict[str, Any]) -> str:
    """The measured backend with the most reviews/s whose accuracy is within the band
    and whose decisions agree with fp32 PyTorch's on at least :data:`MIN_AGREEMENT`."""
    floor = record["torch_accuracy"] - ACCURACY_BAND - 1e-12
    kept = {
        name: measured["reviews_per_second"]
        for name, measured in record["backends"].items()
        if measured["accuracy"] >= floor
        and measured.get("agreement_with_torch", 1.0) >= MIN_AGREEMENT
    }
    return max(kept, key=kept.__getitem__)


def read_record(record_path: Path, model_dir: str | Path) -> dict[str, Any]:
    """``exports.json``, checked for the fields every reader of it uses.

    Raises:
        ModelError: the file is not JSON, or not the record ``bertsent export`` writes.
    """
    hint = f"export again: bertsent export {model_dir} --onnx [--int8]"
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ModelError(f"{record_path} is damaged ({error})", hint=hint) from None
    graphs = record.get("graphs") if isinstance(record, dict) else None
    complete = isinstance(graphs, dict) and all(
        isinstance(graph, dict) and {"file", "sha256"} <= graph.keys() for graph in graphs.values()
    )
    if not complete or not {"measured_on", "torch_accuracy"} <= record.keys():
        raise ModelError(
            f"{record_path} is damaged: not the record `bertsent export` writes", hint=hint
        )
    return dict(record)


def choose_backend(model_dir: str | Path, device: str = "cpu") -> str:
    """``auto``: the backend ``bertsent export`` found fastest within 0.3 points here,
    for a model that will run on ``device``.

    Falls back to ``torch`` (fp32) when the model was never exported, when its graphs
    were exported from other weights than the folder now holds, when ONNX Runtime
    is not installed to run the graph it chose, or when it was measured on another
    kind of machine, whose speeds say nothing about this one, and on a GPU:
    the CPU backends that export measures do not beat PyTorch there. (Older exports on
    GPU machines keyed their record by the GPU though they measured the CPU.)
    """
    if device != "cpu":
        logger.info("backend auto: torch on the %s (exports are measured on CPUs)", device)
        return "torch"
    record_path = Path(model_dir) / ONNX_FOLDER / RECORD_FILE
    if not record_path.is_file():
        return "torch"
    record = read_record(record_path, model_dir)
    if "auto" not in record or record.get("hardware") != hardware_key():
        logger.info(
            "backend auto: %s was measured on other hardware; using torch "
            "(export again here to measure this machine)",
            record_path,
        )
        return "torch"
    choice = str(record["auto"])
    if not exported_from_these_weights(record, model_dir):
        logger.info(
            "backend auto: %s measured other weights than %s's; using torch (export again)",
            record_path,
            model_dir,
        )
        return "torch"
    if choice.startswith("onnx") and find_spec("onnxruntime") is None:
        logger.info(
            "backend auto: %s was fastest here, but ONNX Runtime is not installed; using "
            "torch (pip install 'bertsent[onnx]')",
            choice,
        )
        return "torch"
    if choice == "torch-bf16" and not cpu_has_fast_bf16():  # e.g. BERTSENT_FAST_BF16=0
        logger.info("backend auto: torch-bf16 was fastest when measured, but bf16 is not "
                    "fast on this CPU now; using torch")  # fmt: skip
        return "torch"
    logger.info("backend auto: %s (fastest within 0.3 points of fp32 here)", choice)
    return choice


def weights_sha256(model_dir: str | Path) -> str:
    """One SHA-256 over the model folder's safetensors files: which weights a graph was
    exported from, so a graph left beside other weights is not used for them."""
    files = sorted(Path(model_dir).resolve().glob("*.safetensors"))
    return _weights_sha256(tuple((str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files))


@functools.lru_cache(maxsize=8)
def _weights_sha256(files: tuple[tuple[str, int, int], ...]) -> str:
    """Hashed once per process for files of this size and time: ``--backend auto`` and
    then the ONNX backend it chose both ask, at every start-up."""
    digest = hashlib.sha256()
    for name, _, _ in files:
        digest.update(f"{Path(name).name}\x00{file_sha256(Path(name))}\x00".encode())
    return digest.hexdigest()


def exported_from_these_weights(record: dict[str, Any], model_dir: str | Path) -> bool:
    """Whether the record's graphs were exported from the weights now in ``model_dir``
    (records written before the weights were recorded are taken as they are)."""
    recorded = record.get("weights_sha256")
    return recorded is None or recorded == weights_sha256(model_dir)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def read_export(model_dir: str | Path, backend: str) -> tuple[Path, dict[str, Any]]:
    """The graph file of ``backend`` and its measured record, checked against each other.

    Raises:
        ModelError: the model was not exported for this backend, the graph file
            differs from the one that was measured, or it was exported from other
            weights than those in ``model_dir``.
    """
    folder = Path(model_dir) / ONNX_FOLDER
    record_path = folder / RECORD_FILE
    hint = f"bertsent export {model_dir} --onnx" + (" --int8" if backend == "onnx-int8" else "")
    if not record_path.is_file():
        raise ModelError(
            f"{model_dir}: no ONNX export (missing {record_path})", hint=f"run: {hint}"
        )
    record = read_record(record_path, model_dir)
    graph = record["graphs"].get(backend)
    if graph is None:
        raise ModelError(f"{record_path}: no '{backend}' graph was exported", hint=f"run: {hint}")
    path = folder / graph["file"]
    if not path.is_file() or file_sha256(path) != graph["sha256"]:
        raise ModelError(
            f"{path}: missing or changed since it was measured", hint=f"export again: {hint}"
        )
    if not exported_from_these_weights(record, model_dir):
        raise ModelError(
            f"{path} was exported from other weights than those in {model_dir}",
            hint=f"export again: {hint}",
        )
    if backend == "onnx-int8" and record.get("hardware") != hardware_key():
        # INT8 kernels differ between CPUs (VNNI or not): what was measured may not hold
        logger.warning(
            "%s: its agreement with PyTorch was measured on another kind of machine; "
            "export again here to measure this one (%s)", path, hint,
        )  # fmt: skip
    return path, {**graph, "measured_on": record["measured_on"], "torch": record["torch_accuracy"]}
