"""The report is opened in a real headless Chromium: no console errors, every figure shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from bertsent.comparison.compare import compare
from bertsent.report.build import build_report
from tests.conftest import CHROMIUM, CHROMIUM_FLAGS


@pytest.fixture(scope="module")
def report_path(
    trained_model_dir: Path, dataset_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    folder = tmp_path_factory.mktemp("report")
    compare(str(dataset_dir), methods=["bow-svm", "tfidf-lr"], output_dir=folder / "compare")
    return build_report(
        trained_model_dir, folder / "report.html", comparison_dir=folder / "compare", sample=40
    )


def test_report_holds_every_section(report_path: Path) -> None:
    page = report_path.read_text(encoding="utf-8")
    for section in ('id="data"', 'id="metrics"', 'id="comparison"', 'id="behaviour"',
                    'id="embedding"', 'id="explanations"'):  # fmt: skip
        assert section in page
    assert "Great, another boring superhero movie" in page
    assert 'src="http' not in page and 'href="http' not in page  # nothing fetched from a network
    assert "gradient dL/dz = p - y" in page


def test_report_renders_in_chromium_without_errors(report_path: Path, tmp_path: Path) -> None:
    if CHROMIUM is None:
        pytest.skip("needs Debian's chromium (apt-get install chromium); .ci/run installs it")
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright (make setup)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        problems: list[str] = []
        page.on(
            "console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None
        )
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.on("requestfailed", lambda request: problems.append(f"failed {request.url}"))
        page.goto(report_path.as_uri())
        page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
        images = page.evaluate(
            "Array.from(document.images).map(i => ({alt: i.alt, width: i.naturalWidth,"
            " shown: i.getBoundingClientRect().width}))"
        )
        maps = page.evaluate("document.querySelectorAll('svg circle title').length")
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        browser.close()
    assert problems == []
    alts = {image["alt"] for image in images}
    assert {"training curves", "confusion matrix", "calibration diagram", "comparison chart",
            "embedding maps", "attention heatmaps", "attributions"} <= alts  # fmt: skip
    assert all(image["width"] > 0 and image["shown"] > 100 for image in images)
    assert maps > 40  # hoverable points in the before/after maps


def test_a_baseline_report_says_which_sections_it_cannot_have(
    dataset_dir: Path, tmp_path: Path
) -> None:
    from bertsent.pipeline import train

    train(str(dataset_dir), output_dir=tmp_path / "tfidf", method="tfidf-lr")
    page = build_report(tmp_path / "tfidf", tmp_path / "report.html").read_text(encoding="utf-8")
    assert "Not in this report: a tfidf-lr model has no [CLS] vectors" in page
    assert 'id="explanations"' not in page
    training = page.split("<th>training</th>", 1)[1].split("</tr>", 1)[0]
    assert "examples/s on " in training  # no empty precision for a model that has none


def test_two_models_reports_do_not_replace_each_other(dataset_dir: Path, tmp_path: Path) -> None:
    from bertsent.pipeline import train

    for name in ("first", "second"):
        train(str(dataset_dir), output_dir=tmp_path / name, method="tfidf-lr")
    first, second = build_report(tmp_path / "first"), build_report(tmp_path / "second")
    assert (first.name, second.name) == ("first-report.html", "second-report.html")
    assert first.parent == second.parent == tmp_path.resolve()
    assert first.is_file() and second.is_file()


def test_a_model_of_data_without_a_test_split_is_reported_on_dev_with_its_columns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """As ../shared/data's sets: train.csv and dev.csv only, here with columns of their own."""
    from bertsent.cli import main
    from tests.conftest import synthetic_reviews, write_csv

    for split, (n, seed) in {"train": (120, 1), "dev": (40, 2)}.items():
        texts, labels = synthetic_reviews(n, seed)
        rows = [{"review": t, "verdict": y} for t, y in zip(texts, labels, strict=True)]
        write_csv(tmp_path / "data" / f"{split}.csv", rows)
    assert main(["-q", "train", "--data", str(tmp_path / "data"), "--method", "tfidf-lr",
                 "--text-column", "review", "--label-column", "verdict",
                 "--output", str(tmp_path / "model")]) == 0  # fmt: skip
    assert main(["-q", "report", str(tmp_path / "model")]) == 2
    assert "has no test split" in capsys.readouterr().err
    assert main(["-q", "report", str(tmp_path / "model"), "--split", "dev"]) == 0
    page = (tmp_path / "model-report.html").read_text(encoding="utf-8")
    assert "Dev metrics" in page and "on 40 dev reviews of data" in page
    assert "which chose this model's best epoch" in page


def test_a_section_that_cannot_be_drawn_is_left_out_with_its_reason(
    trained_model_dir: Path,
    dataset_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Eight test reviews are too few for the embedding probe, and without Captum there
    are no attributions: the page says so instead of the report failing after scoring."""
    import shutil
    import sys

    from bertsent.errors import ConfigError, DataError

    data = tmp_path / "data"
    data.mkdir()
    for split in ("train", "dev"):
        shutil.copy(dataset_dir / f"{split}.csv", data)
    lines = (dataset_dir / "test.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    (data / "test.csv").write_text("".join(lines[:9]), encoding="utf-8")
    with pytest.raises(DataError, match=r"no compare\.md there"):
        build_report(trained_model_dir, tmp_path / "r.html", comparison_dir=tmp_path)
    with pytest.raises(ConfigError, match="sample 0: must be"):
        build_report(trained_model_dir, tmp_path / "r.html", sample=0)
    monkeypatch.setitem(sys.modules, "captum.attr", None)  # as if not installed
    page = build_report(trained_model_dir, tmp_path / "r.html", data=str(data), sample=40)
    text = page.read_text(encoding="utf-8")
    assert "Not in this report: the test split has 8 reviews" in text
    assert "Not in this report: token attributions need Captum" in text
    assert 'id="metrics"' in text and "<h3>The worked example</h3>" not in text


def test_a_comparison_of_one_line_or_with_html_in_it_is_shown_as_text(tmp_path: Path) -> None:
    """A one-line compare.md crashed the report after all its work; raw HTML in one ran
    in the page, though the folder may be anyone's."""
    from bertsent.report.build import _comparison

    (tmp_path / "compare.md").write_text("# only a title")
    assert _comparison(tmp_path) == {"table": ""}
    table = "# Comparison\n\n<script>alert(1)</script>\n\n| a |\n|---|\n| 1 |\n"
    (tmp_path / "compare.md").write_text(table)
    shown = (_comparison(tmp_path) or {})["table"]
    assert "<script>" not in shown and "&lt;script&gt;" in shown and "<table>" in shown
