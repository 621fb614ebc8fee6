"""evaluate, behave, explain, embed-map and demo replace only their own earlier output.

A user's file at an output path is refused in one line, before the model is loaded
(the refusals below name a model that does not exist), and left byte for byte;
``--overwrite`` forces; a rerun over the command's own output just works.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

import bertsent.demo
from bertsent.atomic import marked, written_by
from bertsent.cli import main
from bertsent.data import DatasetSplits
from bertsent.errors import DataError
from bertsent.explain.explanation import file_stem
from bertsent.pipeline import train
from tests.cli.test_outputs import listing, refused, train_tfidf

NO_MODEL = "no-such-model"  # loading it would fail: a refusal naming the file came first
TEXT = "This movie was not very good"
STEM = "this-movie-was-not-very-good"


@pytest.fixture(scope="module")
def tfidf_model(dataset_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tfidf(dataset_dir, tmp_path_factory.mktemp("tfidf") / "model")


def saved(path: Path) -> dict[str, object]:
    content: dict[str, object] = json.loads(path.read_text())
    return content


# evaluate --json/--figure


def test_evaluate_refuses_a_users_report_or_figure_before_loading_the_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report, figure = tmp_path / "metrics.json", tmp_path / "metrics.png"
    report.write_text('{"accuracy": "my own numbers"}')
    assert main(["evaluate", NO_MODEL, "--json", str(report)]) == 2
    assert "pass --overwrite" in refused(capsys, str(report), "not a bertsent evaluate report")
    assert listing(tmp_path) == {"metrics.json": b'{"accuracy": "my own numbers"}'}
    report.unlink()
    figure.write_bytes(b"my figure")  # where --json puts its figure: beside the report
    assert main(["evaluate", NO_MODEL, "--json", str(report)]) == 2
    refused(capsys, str(figure), "existing file")
    assert main(["evaluate", NO_MODEL, "--figure", str(figure)]) == 2
    refused(capsys, str(figure), "existing file")
    assert listing(tmp_path) == {"metrics.png": b"my figure"}


def test_evaluate_replaces_its_own_report_and_the_figure_it_names(
    tfidf_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report, figure = tmp_path / "metrics.json", tmp_path / "metrics.png"
    report.write_text("mine")
    figure.write_bytes(b"mine too")
    command = ["-q", "evaluate", str(tfidf_model), "--json", str(report)]
    assert main([*command, "--overwrite"]) == 0
    first = saved(report)
    assert next(iter(first)) == "bertsent" and first["bertsent"] == "evaluate"
    assert first["figure"] == "metrics.png" and first["n"] == 40
    assert Image.open(figure).format == "PNG"
    assert main(command) == 0  # its own report, and the figure that report names
    assert saved(report)["accuracy"] == first["accuracy"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json", "metrics.png"]
    other = tmp_path / "other.png"
    other.write_bytes(b"my other figure")  # not the one the report names
    capsys.readouterr()
    assert main([*command, "--figure", str(other)]) == 2
    refused(capsys, str(other), "existing file")
    assert other.read_bytes() == b"my other figure"
    assert main(["-q", "evaluate", str(tfidf_model), "--figure", str(figure)]) == 2
    refused(capsys, str(figure))  # an image alone never says who wrote it


# behave --json


def test_behave_replaces_only_its_own_results(
    tfidf_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "behaviour.json"
    target.write_text('{"mine": true}')
    assert main(["behave", NO_MODEL, "--json", str(target)]) == 2
    assert "pass --overwrite" in refused(capsys, str(target), "not a bertsent behave result")
    assert target.read_text() == '{"mine": true}'
    command = ["-q", "behave", str(tfidf_model), "--json", str(target), "--per-test", "5"]
    assert main([*command, "--overwrite"]) == 0
    assert written_by(target, "behave") and saved(target)["cases"]
    assert main(command) == 0  # its own earlier results
    assert [p.name for p in tmp_path.iterdir()] == ["behaviour.json"]
    evaluated = tmp_path / "evaluated.json"
    evaluated.write_text('{"bertsent": "evaluate"}')  # another command's output is not its
    assert main([*command, "--json", str(evaluated)]) == 2
    refused(capsys, str(evaluated))


# explain --output


def test_explain_refuses_files_named_after_the_text_that_it_did_not_write(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / f"{STEM}.json").write_text("my notes")
    assert main(["explain", NO_MODEL, TEXT, "--output", str(tmp_path)]) == 2
    message = refused(capsys, str(tmp_path / f"{STEM}.json"), "not a bertsent explain output")
    assert "pass --overwrite" in message
    assert listing(tmp_path) == {f"{STEM}.json": b"my notes"}
    (tmp_path / f"{STEM}.json").unlink()
    (tmp_path / f"{STEM}-attributions.svg").write_bytes(b"my figure")
    command = ["explain", NO_MODEL, TEXT, "--output", str(tmp_path), "--format", "svg"]
    assert main(command) == 2
    refused(capsys, str(tmp_path / f"{STEM}-attributions.svg"))
    assert listing(tmp_path) == {f"{STEM}-attributions.svg": b"my figure"}
    not_a_folder = tmp_path / "notes"
    not_a_folder.write_text("a file, not a folder")
    assert main(["explain", NO_MODEL, TEXT, "--output", str(not_a_folder)]) == 2
    refused(capsys, str(not_a_folder), "existing file")
    assert not_a_folder.read_text() == "a file, not a folder"


def test_explain_names_another_texts_explanation_whose_names_it_shares(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = marked("explain", {"text": "THIS movie was NOT very good!"})
    (tmp_path / f"{STEM}.json").write_text(json.dumps(other))
    assert main(["explain", NO_MODEL, TEXT, "--output", str(tmp_path)]) == 2
    message = refused(capsys, str(tmp_path / f"{STEM}.json"), "explanation of another text")
    assert "'THIS movie was NOT very good!'" in message and "--output DIR" in message
    assert json.loads((tmp_path / f"{STEM}.json").read_text()) == other


def test_reviews_in_other_scripts_get_file_names_of_their_own() -> None:
    assert file_stem("Фильм ужасен") == "фильм-ужасен"
    assert file_stem("Отличный фильм!") == "отличный-фильм"
    assert file_stem("这部电影很好") != file_stem("这部电影很差")
    assert file_stem("!!!") == "review"


def test_explain_replaces_its_own_explanation_and_leaves_the_rest_of_the_folder(
    trained_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / f"{STEM}-attention.png").write_bytes(b"my figure")
    (tmp_path / "notes.txt").write_text("mine")
    command = ["-q", "explain", str(trained_model_dir), TEXT, "--output", str(tmp_path)]
    command += ["--steps", "4"]
    assert main(command) == 2
    refused(capsys, str(tmp_path / f"{STEM}-attention.png"))
    # --math alone writes nothing: the flags that shape files are refused, not ignored
    assert main([*command, "--math"]) == 2
    assert "--steps shapes the figures and files" in capsys.readouterr().err
    assert (tmp_path / f"{STEM}-attention.png").read_bytes() == b"my figure"
    assert main([*command, "--overwrite"]) == 0
    assert written_by(tmp_path / f"{STEM}.json", "explain")
    assert saved(tmp_path / f"{STEM}.json")["text"] == TEXT
    assert Image.open(tmp_path / f"{STEM}-attention.png").format == "PNG"
    assert main(command) == 0 and main([*command, "--attention"]) == 0  # its own, rerun
    names = {p.name for p in tmp_path.iterdir()}
    assert names == {f"{STEM}.json", f"{STEM}-attention.png", f"{STEM}-attributions.png",
                     "notes.txt"}  # fmt: skip
    assert (tmp_path / "notes.txt").read_text() == "mine"
    # another text with the same file name is another explanation: not replaced unasked
    other = "THIS movie was not very good!"
    assert main(["-q", "explain", str(trained_model_dir), other, "--output", str(tmp_path)]) == 2
    refused(capsys, str(tmp_path / f"{STEM}.json"))
    assert saved(tmp_path / f"{STEM}.json")["text"] == TEXT


def test_explain_draws_a_text_with_dollar_signs_as_written(
    trained_model_dir: Path, tmp_path: Path
) -> None:
    # two '$' started matplotlib's math mode, which failed to parse this one
    text = 'It cost a total of $250,000 to make "Clerks". How did they spend $45 on it'
    command = ["-q", "explain", str(trained_model_dir), text, "--output", str(tmp_path)]
    assert main([*command, "--steps", "4"]) == 0
    assert len([p for p in tmp_path.iterdir() if p.suffix == ".png"]) == 2


# embed-map --output


@pytest.mark.slow
def test_embed_map_replaces_only_its_own_map(
    trained_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "embedding_map.html").write_text("<html>my page</html>")
    (tmp_path / "notes.txt").write_text("mine")
    before = listing(tmp_path)
    assert main(["embed-map", NO_MODEL, "--output", str(tmp_path)]) == 2
    message = refused(capsys, str(tmp_path / "embedding_map.html"), "bertsent embed-map")
    assert "pass --overwrite" in message
    assert listing(tmp_path) == before
    command = ["-q", "embed-map", str(trained_model_dir), "--output", str(tmp_path)]
    command += ["--sample", "20"]
    assert main([*command, "--overwrite"]) == 0
    assert written_by(tmp_path / "embedding_map.json", "embed-map")
    assert "<html>my page</html>" not in (tmp_path / "embedding_map.html").read_text()
    assert main(command) == 0  # its own map is replaced without asking
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "embedding_map.html", "embedding_map.json", "embedding_map.png", "notes.txt"
    ]  # fmt: skip
    assert (tmp_path / "notes.txt").read_text() == "mine"


# demo --output


@pytest.fixture
def quick_demo(rotten_tomatoes_slice: DatasetSplits, monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo's whole path, on 240/80/80 of its reviews, with TF-IDF for the fine-tune."""
    monkeypatch.setattr(
        bertsent.demo,
        "train",
        lambda data, config, output, **options: train(
            data, config, output, method="tfidf-lr", **options
        ),
    )


def demo(folder: Path, *extra: str) -> int:
    return main(["-q", "demo", "--output", str(folder), *extra])


DEMO_NAMES = ["confusion_matrix.png", "demo.json", "model", "puzzles.json", "report.html",
              "test_metrics.json"]  # fmt: skip


def test_demo_refuses_a_users_folder_and_reruns_over_its_own(
    quick_demo: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "report.html").write_text("<html>my report</html>")
    (folder / "notes.txt").write_text("mine")
    before = listing(folder)
    assert demo(folder) == 2
    message = refused(capsys, str(folder / "report.html"), "not a bertsent demo output")
    assert "pass --overwrite" in message
    assert listing(folder) == before  # refused before anything was trained or marked
    assert demo(folder, "--overwrite") == 0
    assert "bertsent report: " in (folder / "report.html").read_text()
    assert written_by(folder / "demo.json", "demo")
    assert main(["-q", "demo", "--output", str(folder)]) == 0  # its own folder: replaced
    assert sorted(p.name for p in folder.iterdir()) == sorted([*DEMO_NAMES, "notes.txt"])
    assert (folder / "notes.txt").read_text() == "mine"
    assert written_by(folder / "test_metrics.json", "evaluate")
    (folder / "demo.json").unlink()  # a demo folder written before the marker existed
    assert demo(folder) == 0  # is still known by its model and scored puzzle sentences
    capsys.readouterr()

    other = tmp_path / "other"
    (other / "model").mkdir(parents=True)
    (other / "model" / "weights.bin").write_bytes(b"mine")
    assert demo(other) == 2
    refused(capsys, str(other / "model"), "not a bertsent model folder")
    assert listing(other) == {"model/weights.bin": b"mine"}


def test_a_demo_that_fails_before_its_model_is_saved_leaves_the_folder_unmarked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def failing(*arguments: object, **options: object) -> None:
        raise DataError("the encoder could not be read")

    monkeypatch.setattr(bertsent.demo, "train", failing)
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    assert demo(folder) == 2
    assert listing(folder) == {"notes.txt": b"mine"}  # no demo.json: still the user's folder


def test_demo_writes_into_a_new_folder_and_one_without_its_files(
    quick_demo: None, tmp_path: Path
) -> None:
    assert demo(tmp_path / "new" / "demo") == 0
    assert sorted(p.name for p in (tmp_path / "new" / "demo").iterdir()) == DEMO_NAMES
    (tmp_path / "mine.txt").write_text("mine")
    assert demo(tmp_path) == 0  # nothing of the user's is in the way
    assert (tmp_path / "mine.txt").read_text() == "mine"


def test_a_json_is_ours_only_when_its_first_key_names_the_command(tmp_path: Path) -> None:
    path = tmp_path / "out.json"
    for content, ours in [
        ('{\n  "bertsent": "behave",\n  "cases": 3}', True),
        ('{"bertsent":"behave"}', True),
        ('{"cases": 3, "bertsent": "behave"}', False),  # a key anywhere else: the user's
        ('{"bertsent": "behave-like"}', False),
        ('{"bertsent": "evaluate"}', False),
        ("bertsent behave", False),
    ]:
        path.write_text(content)
        assert written_by(path, "behave") is ours, content
    assert not written_by(tmp_path, "behave") and not written_by(tmp_path / "none", "behave")
