"""The main job: fine-tune the default model on the default data, evaluate, show the puzzles."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bertsent.atomic import write_text_atomic
from bertsent.data import DEFAULT_DATASET
from bertsent.evaluation.evaluate import evaluate
from bertsent.evaluation.puzzles import score_puzzles
from bertsent.report.build import build_report
from bertsent.training.config import TrainingConfig
from bertsent.training.run import DYNAMICS_FIGURE, TrainingRun, train


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
) -> DemoResult:
    """Train on ``rotten-tomatoes``, evaluate on its test split, score the puzzle sentences.

    Writes ``model/`` (the saved model), ``test_metrics.json``, ``confusion_matrix.png``,
    ``puzzles.json`` and ``report.html`` (with ``report_sample`` reviews in its embedding
    map) under ``output_dir``.
    """
    root = Path(output_dir)
    model_dir = root / "model"
    run = train(DEFAULT_DATASET, config or TrainingConfig(), model_dir, resume=resume)
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
    )
    puzzles = score_puzzles(run.model)
    write_text_atomic(paths["puzzles"], json.dumps(puzzles, indent=2))
    build_report(model_dir, paths["report"], sample=report_sample)
    return DemoResult(run=run, test_report=test_report, puzzles=puzzles, paths=paths)
