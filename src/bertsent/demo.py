"""The main job: fine-tune the default model on the default data, evaluate, show the puzzles."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bertsent.atomic import (
    check_files_in_folder,
    check_replaceable,
    marked,
    write_text_atomic,
    written_by,
)
from bertsent.data import DEFAULT_DATASET, load_dataset
from bertsent.data.augment import augment_for_training
from bertsent.evaluation.evaluate import evaluate
from bertsent.evaluation.puzzles import PUZZLES, score_puzzles
from bertsent.models import load, method_recipe, read_metadata
from bertsent.models.base import METADATA_FILE
from bertsent.models.bert import DYNAMICS_FIGURE
from bertsent.pipeline import TrainingRun, checkpoint_dir, train
from bertsent.report.build import build_report
from bertsent.training.config import TrainingConfig, same_recipe

logger = logging.getLogger(__name__)

# Written first into the demo's folder: a rerun knows the folder, and the files below, as
# its own. Only these and model/ are ever replaced there; nothing else in it is touched.
DEMO_MARKER = "demo.json"
DEMO_FILES = ("test_metrics.json", "confusion_matrix.png", "puzzles.json", "report.html")


def is_demo_folder(root: Path) -> bool:
    """Whether ``root`` holds an earlier demo's output (its marker, or as written before it)."""
    root = Path(root)
    if written_by(root / DEMO_MARKER, "demo"):
        return True
    # demos from before the marker: a model beside the puzzle sentences, scored
    if not (root / "model" / METADATA_FILE).is_file():
        return False
    try:
        puzzles = json.loads((root / "puzzles.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    texts = (
        [p.get("text") for p in puzzles if isinstance(p, dict)] if isinstance(puzzles, list) else []
    )
    return texts == [text for text, _ in PUZZLES]


def check_demo_folder(root: Path, *, overwrite: bool = False) -> bool:
    """Refuse a ``root`` where the demo would replace files it did not write.

    In an earlier demo's folder its files are replaced; elsewhere any of them that exists
    (or a ``model/`` that is not a bertsent model) is refused unless ``overwrite``.

    Returns:
        Whether the demo's files may replace what is at their paths.

    Raises:
        OutputExistsError: naming the first file or folder in the way.
    """
    root = Path(root)
    ours = overwrite or is_demo_folder(root)
    check_files_in_folder(root, [DEMO_MARKER, *DEMO_FILES], "bertsent demo", replaceable=ours)
    check_replaceable(root / "model", METADATA_FILE, "bertsent model folder", overwrite=overwrite)
    return ours


def finished_run(model_dir: Path, config: TrainingConfig) -> TrainingRun | None:
    """The demo's model, when an earlier run finished training it on the built-in data
    with this recipe and stopped later (in the evaluation or the report): ``--resume``
    goes on from there rather than training the model again."""
    if not (model_dir / METADATA_FILE).is_file() or checkpoint_dir(model_dir).exists():
        return None
    metadata = read_metadata(model_dir)
    if metadata.get("method") != "bert" or not same_recipe(
        metadata.get("training_config"), method_recipe("bert", config)
    ):
        return None
    source = DEFAULT_DATASET
    loaded = load_dataset(source) if isinstance(source, str) else source
    splits, _ = augment_for_training(loaded, "auto", seed=config.seed)
    if metadata.get("data", {}).get("fingerprint") != splits.fingerprint():  # other data
        return None
    logger.info("%s was trained by an earlier run with this recipe: going on from it", model_dir)
    model = load(model_dir)
    return TrainingRun(
        model=model,
        output_dir=model_dir,
        data=splits,
        dev_report=metadata.get("metrics", {}).get("dev", {}),
        history=model.history_,
        best=model.best_,
        train_seconds=float(metadata["training"]["seconds"]),
        train_examples_per_second=float(metadata["training"]["examples_per_second"]),
    )


@dataclass
class DemoResult:
    run: TrainingRun
    test_report: dict[str, Any]
    puzzles: list[dict[str, Any]]
    paths: dict[str, Path]


def run_demo(
    output_dir: str | Path = "runs/demo",
    config: TrainingConfig | None = None,
    *,
    resume: bool = False,
    report_sample: int = 1000,
    overwrite: bool = False,
) -> DemoResult:
    """Train on ``rotten-tomatoes``, evaluate on its test split, score the puzzle sentences.

    Writes ``model/`` (the saved model), ``test_metrics.json``, ``confusion_matrix.png``,
    ``puzzles.json`` and ``report.html`` (with ``report_sample`` reviews in its embedding
    map) under ``output_dir``, and ``demo.json``, which marks the folder as the demo's:
    a rerun replaces these files. In any other folder an existing one is refused before
    training, unless ``overwrite``.

    Raises:
        OutputExistsError: ``output_dir`` holds a file or folder of the demo's names that
            an earlier demo did not write, and ``overwrite`` is false.
    """
    root = Path(output_dir)
    replaceable = check_demo_folder(root, overwrite=overwrite)
    model_dir = root / "model"
    config = (config or TrainingConfig()).validate()
    run = (finished_run(model_dir, config) if resume else None) or train(
        DEFAULT_DATASET, config, model_dir, resume=resume, overwrite=overwrite
    )
    # marked only now: a demo that failed before its model was saved leaves a user's
    # folder as the user's, whose files a later run must still refuse to replace
    write_text_atomic(
        root / DEMO_MARKER,
        json.dumps(marked("demo", {"files": ["model", *DEMO_FILES]}), indent=2),
        overwrite=replaceable,
    )
    paths = {
        "model": model_dir,
        "training curves": model_dir / DYNAMICS_FIGURE,
        "test metrics": root / "test_metrics.json",
        "confusion matrix": root / "confusion_matrix.png",
        "puzzles": root / "puzzles.json",
        "report": root / "report.html",
    }
    test_report = evaluate(
        run.model,
        run.data,
        split="test",
        json_path=paths["test metrics"],
        figure_path=paths["confusion matrix"],
        overwrite=replaceable,
    )
    puzzles = score_puzzles(run.model)
    write_text_atomic(paths["puzzles"], json.dumps(puzzles, indent=2), overwrite=replaceable)
    build_report(model_dir, paths["report"], sample=report_sample, overwrite=replaceable)
    return DemoResult(run=run, test_report=test_report, puzzles=puzzles, paths=paths)
