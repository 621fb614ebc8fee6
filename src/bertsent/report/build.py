"""One self-contained HTML report of a model: everything we know about it, on one page.

Figures are embedded as data URIs and the embedding maps as inline SVG, so the file can
be mailed to a colleague and opened offline. Sections that need what a model does not
have (attention for a baseline, a comparison that was never run) say so instead.
"""

from __future__ import annotations

import base64
import html
import logging
import tempfile
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from bertsent.atomic import check_file_replaceable, write_text_atomic
from bertsent.comparison.compare import default_folder
from bertsent.data.splits import Split
from bertsent.data.tasks import ASPECT_COLUMN, Task, split_aspect
from bertsent.errors import ConfigError, DataError, MissingDependencyError, ModelError
from bertsent.evaluation.evaluate import data_split
from bertsent.evaluation.metrics import task_report
from bertsent.evaluation.puzzles import PUZZLES
from bertsent.models import DISPLAY_NAMES, SentimentClassifier, load
from bertsent.models.bert import DYNAMICS_FIGURE
from bertsent.progress import progress

logger = logging.getLogger(__name__)

REPORT_SUFFIX = "-report.html"
# Every report's <title> starts so (template.html); it tells our earlier reports apart.
REPORT_TITLE = b"<title>bertsent report: "


def image_uri(path: Path) -> str:
    """A PNG or SVG file as a data URI for an <img> tag."""
    kind = "svg+xml" if path.suffix == ".svg" else "png"
    return f"data:image/{kind};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def highlighted_words(words: list[str], scores: np.ndarray, special: list[bool]) -> str:
    """Words as spans shaded green (toward the prediction) or red (against), score on hover.

    Special tokens ([CLS], [SEP]) are left out: the baseline keeps them, so they score 0.
    """
    scale = float(np.abs(scores).max()) or 1.0
    spans = []
    for word, score, is_special in zip(words, scores, special, strict=True):
        if is_special:
            continue
        alpha = min(1.0, abs(float(score)) / scale)
        colour = "26,152,80" if score >= 0 else "215,48,39"
        spans.append(
            f'<span class="token" title="{score:+.4f}" style="background:rgba({colour},'
            f'{alpha * 0.75:.2f})">{html.escape(word)}</span>'
        )
    return " ".join(spans)


def confident_mistakes(
    split: Split, probabilities: np.ndarray, task: Task, count: int
) -> list[dict[str, Any]]:
    """The ``count`` wrong predictions the model was surest of, by the score ``predict``
    gives (the predicted class's probability; multi-label: the highest label's), with the
    aspect of an aspect model's pair beside its sentence."""
    predicted = task.decide(probabilities)
    confidence = probabilities.max(axis=1)
    wrong = [i for i, label in enumerate(predicted) if label != task.canonical(split.labels[i])]
    wrong.sort(key=lambda i: -confidence[i])
    cases = []
    for i in wrong[:count]:
        text, aspect = split_aspect(split.texts[i])
        case = {"text": text, "gold": split.labels[i], "predicted": predicted[i]}
        cases.append({**case, "aspect": aspect, "confidence": float(confidence[i])})
    return cases


def _explanations(
    classifier: SentimentClassifier, cases: list[dict[str, Any]], folder: Path
) -> list[dict[str, Any]]:
    from bertsent.explain.explanation import explain_text, write_explanation
    from bertsent.explain.figures import faithfulness_line

    # what the model answers (a multi-label set) beside the label each view explains
    answers = classifier.predict([case["text"] for case in cases]) if cases else []
    views = []
    for number, (case, decided) in enumerate(zip(cases, answers, strict=True)):
        explanation = explain_text(classifier, case["text"])
        paths = write_explanation(explanation, folder / str(number))
        attribution = explanation.attribution
        assert attribution is not None  # explained with attributions
        views.append(
            {
                **case,
                "decided": decided,
                "label": attribution.label,
                "probability": attribution.probability,
                "delta": attribution.delta,
                "tokens": highlighted_words(
                    attribution.words,
                    attribution.scores,
                    [attribution.encoded.special[group[0]] for group in attribution.encoded.groups],
                ),
                "faithfulness": faithfulness_line(attribution.faithfulness),
                "attention": image_uri(paths["attention"]),
                "attributions": image_uri(paths["attributions"]),
            }
        )
    return views


def _default_comparison(spec: str | None, dataset: str) -> Path | None:
    """The folder `bertsent compare` writes for this data by default, if it wrote one."""
    folder = default_folder(spec) if spec else Path("runs", f"compare-{dataset}")
    return folder if (folder / "compare.md").is_file() else None


def _comparison(folder: Path | None) -> dict[str, str] | None:
    """The comparison table and figures written by `bertsent compare`, if any."""
    if folder is None or not (folder / "compare.md").is_file():
        return None
    from markdown_it import MarkdownIt

    # below its title line; raw HTML is shown as text, not run: the folder may be anyone's
    markdown = (folder / "compare.md").read_text(encoding="utf-8").partition("\n")[2]
    renderer = MarkdownIt("commonmark", {"html": False}).enable("table")
    section = {"table": renderer.render(markdown)}
    for name in ("compare", "learning-curve"):
        if (folder / f"{name}.png").is_file():
            section[name] = image_uri(folder / f"{name}.png")
    return section


def _behaviour(
    classifier: SentimentClassifier, seed: int, stages: int, left_out: dict[str, str]
) -> dict[str, Any] | None:
    from bertsent.evaluation.behaviour import generate_suite, run_suite

    logger.info("report 2/%d: behaviour suite (negation, intensity, sarcasm...)", stages)
    try:
        with progress("report: behaviour suite"):
            return run_suite(classifier, generate_suite(seed=seed), examples=3)
    except ModelError as error:  # no positive and negative side; aspect pairs; emotions
        logger.info("behaviour suite skipped: %s", error.message)
        left_out["behaviour"] = error.message
        return None


def is_report(path: Path) -> bool:
    """Whether ``path`` is a report bertsent wrote (its title is in the first few kB)."""
    try:
        with path.open("rb") as handle:
            return REPORT_TITLE in handle.read(4096)
    except OSError:
        return False


def build_report(
    model_dir: str | Path,
    output: str | Path | None = None,
    *,
    data: str | None = None,
    split: str = "test",
    comparison_dir: str | Path | None = None,
    sample: int = 1000,
    mistakes: int = 3,
    seed: int = 0,
    overwrite: bool = False,
    text_column: str = "text",
    label_column: str = "label",
) -> Path:
    """Write the HTML report of the model in ``model_dir``; returns its path.

    Args:
        model_dir: A directory written by ``bertsent train``.
        output: The HTML file (default: ``MODEL-report.html`` beside the model directory
            ``MODEL``, so that two models' reports never replace each other).
        data: Dataset to score (default: the one the model was trained on).
        split: The split the metrics, mistakes and embedding map come from: ``test``,
            or ``dev`` for data with none (``../shared/data`` sets), marked in the page
            as the split that chose the model.
        comparison_dir: Output of ``bertsent compare`` to include (default:
            ``runs/compare-DATASET`` when it exists).
        sample: Reviews in the embedding map.
        mistakes: How many of the most confident mistakes to explain.
        overwrite: Replace an existing ``output`` that is not an earlier report
            (otherwise refused; an earlier report is always replaced).
        text_column, label_column: The columns of ``data`` (the model's own data is
            read with the columns it was trained with).

    Raises:
        OutputExistsError: ``output`` exists, is not a report and ``overwrite`` is false.
    """
    from jinja2 import Environment, select_autoescape

    from bertsent.evaluation.plots import plot_confusion_matrix, plot_reliability

    model_path = Path(model_dir)
    folder = model_path.resolve()
    output_path = Path(output) if output else folder.parent / f"{folder.name}{REPORT_SUFFIX}"
    replaceable = overwrite or is_report(output_path)
    check_file_replaceable(output_path, "bertsent report", overwrite=replaceable)
    if sample < 1:
        raise ConfigError(f"--sample {sample}: must be at least 1", hint="give a count of reviews")
    if comparison_dir is not None and not (Path(comparison_dir) / "compare.md").is_file():
        raise DataError(
            f"--comparison {comparison_dir}: no compare.md there",
            hint="give the folder `bertsent compare` wrote (its --output)",
        )
    classifier = load(model_path)
    task = classifier.task_
    metadata = classifier.metadata_
    dataset, test = data_split(classifier, data, split, text_column, label_column)
    stages = 4 if classifier.has_encoder else 2
    logger.info("report 1/%d: scoring %d %s %s reviews", stages, len(test), dataset, split)
    with progress(f"report: {split} split"):
        probabilities = classifier.predict_proba(test.texts)
    metrics = task_report(task, test.labels, probabilities)
    if comparison_dir is None:
        comparison_dir = _default_comparison(data or metadata.get("data", {}).get("spec"), dataset)
    left_out: dict[str, str] = {}
    context: dict[str, Any] = {
        "title": f"{DISPLAY_NAMES.get(classifier.method, classifier.method)} on {dataset}",
        "created": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "model_dir": str(model_path),
        "metadata": metadata,
        "dataset": dataset,
        "split": split,
        "task": task.name,
        "pairs": ASPECT_COLUMN in task.input_names,  # review-aspect pairs, not reviews
        "metrics": metrics,
        "behaviour": _behaviour(classifier, seed, stages, left_out),
        "comparison": _comparison(Path(comparison_dir) if comparison_dir else None),
        "mistakes": confident_mistakes(test, probabilities, task, mistakes),
        "left_out": left_out,
        "has_encoder": classifier.has_encoder,
    }
    with tempfile.TemporaryDirectory(prefix="bertsent-report-") as temporary:
        folder = Path(temporary)
        figures = {}
        if "confusion_matrix" in metrics:  # none for several labels per review
            figures["confusion"] = plot_confusion_matrix(
                metrics, folder / "confusion.png", f"{dataset} [{split}]"
            )
            figures["reliability"] = plot_reliability(metrics, folder / "reliability.png")
        if (model_path / DYNAMICS_FIGURE).is_file():
            figures["dynamics"] = model_path / DYNAMICS_FIGURE
        context["figures"] = {name: image_uri(path) for name, path in figures.items()}
        if classifier.has_encoder:
            context.update(
                _bert_sections(
                    classifier, test, context["mistakes"], sample, seed, folder, left_out
                )
            )
        template = resources.files("bertsent.report").joinpath("template.html").read_text("utf-8")
        page = Environment(autoescape=select_autoescape()).from_string(template).render(**context)
    # checked again at the rename: a file that appeared meanwhile is kept unless a report
    write_text_atomic(output_path, page, overwrite=overwrite or is_report(output_path))
    return output_path


def _bert_sections(
    classifier: SentimentClassifier,
    test: Split,
    mistakes: list[dict[str, Any]],
    sample: int,
    seed: int,
    folder: Path,
    left_out: dict[str, str],
) -> dict[str, Any]:
    """Embedding maps and explanations, which need a transformer's internals.

    A section that cannot be drawn for this model or split (a test split too small for
    the probe; Captum not installed; explanations of an aspect model, which read one
    text) is left out with its reason in ``left_out``, after minutes of scoring that
    would otherwise be lost to one error.
    """
    from bertsent.explain.embedding_map import STAGES, embedding_map
    from bertsent.explain.figures import embedding_map_svg, plot_embedding_map
    from bertsent.explain.worked_example import format_worked_example, worked_example

    sections: dict[str, Any] = {}
    logger.info("report 3/4: [CLS] embedding maps of up to %d reviews", sample)
    try:
        with progress("report: embedding map"):
            result = embedding_map(classifier, test, sample=sample, seed=seed)
    except DataError as error:
        left_out["embedding"] = error.message
    else:
        sections["embedding"] = {
            "figure": image_uri(plot_embedding_map(result, folder / "embedding_map.png")),
            "maps": [embedding_map_svg(result, stage) for stage in STAGES],
            "stages": result.stages,
        }
    logger.info("report 4/4: explanations of the puzzles and of %d mistakes", len(mistakes))
    puzzles = [{"text": text, "phenomenon": phenomenon} for text, phenomenon in PUZZLES]
    try:
        sections["puzzles"] = _explanations(classifier, puzzles, folder / "puzzles")
    except (MissingDependencyError, ModelError) as error:
        left_out["explanations"] = f"{error.message} ({error.hint})"
        return sections
    sections["mistake_views"] = _explanations(classifier, mistakes, folder / "mistakes")
    try:  # the softmax walk-through: not for a multi-label model's sigmoids
        sections["worked_example"] = format_worked_example(
            worked_example(classifier, PUZZLES[1][0])
        )
    except ConfigError as error:
        left_out["worked_example"] = error.message
    return sections
