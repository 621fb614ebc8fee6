"""Start-up stays lazy: heavy libraries load only for the commands that use them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import bertsent
from bertsent.cli import main


def modules_after(code: str) -> set[str]:
    """The top-level packages a fresh interpreter has imported after running ``code``."""
    modules = "' '.join(sorted({m.split('.')[0] for m in sys.modules}))"
    probe = f"{code}\nimport sys\nprint({modules}, file=sys.stderr)"  # stdout has the help
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    return set(result.stderr.split())


def test_import_and_help_load_no_heavy_library() -> None:
    heavy = {"torch", "transformers", "sklearn", "onnxruntime", "matplotlib", "pandas"}
    assert not heavy & modules_after("import bertsent")
    help_run = (
        "from bertsent.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass"
    )
    assert not heavy & modules_after(help_run)


@pytest.mark.parametrize("name", sorted(set(bertsent.__all__) - {"__version__"}))
def test_every_public_name_resolves(name: str) -> None:
    assert getattr(bertsent, name) is not None


def test_scoring_with_a_baseline_loads_neither_torch_nor_transformers(
    dataset_dir: Path, tmp_path: Path
) -> None:
    model = tmp_path / "tfidf"
    train = ["-q", "train", "--method", "tfidf-lr", "--data", str(dataset_dir), "--output"]
    assert main([*train, str(model)]) == 0
    loaded = modules_after(
        f"from bertsent.cli import main\nmain(['predict', {str(model)!r}, 'ok'])"
    )
    assert "sklearn" in loaded  # it did score
    assert not {"torch", "transformers"} & loaded
