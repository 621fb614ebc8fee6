"""``bertsent explain`` on a text with no words: one line, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from bertsent.cli import main
from bertsent.errors import DataError
from bertsent.explain.explanation import explain_text
from bertsent.explain.worked_example import worked_example
from bertsent.models import SentimentClassifier


@pytest.mark.parametrize(("text", "said"), [("", "empty"), (" \t\n ", "only whitespace")])
@pytest.mark.parametrize("math", [False, True])
def test_a_text_without_words_is_refused_in_one_line(
    trained_model_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    text: str,
    said: str,
    math: bool,
) -> None:
    output = tmp_path / "explain"
    command = ["explain", str(trained_model_dir), text, "--output", str(output)]
    assert main(command + ["--math"] * math) == 2
    captured = capsys.readouterr()
    assert captured.err.splitlines()[0] == (
        f"error: the text to explain is {said}: there are no words to explain"
    )
    assert len(captured.err.splitlines()) == 2 and captured.out == ""
    assert not output.exists()


def test_the_library_refuses_it_too(classifier: SentimentClassifier) -> None:
    with pytest.raises(DataError, match="no words to explain"):
        explain_text(classifier, "   ")
    with pytest.raises(DataError, match="no words to explain"):
        worked_example(classifier, "")


def test_attention_alone_needs_no_captum(
    trained_model_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`explain --attention` failed with "token attributions need Captum", though
    attention reads the model's own weights; and it ran 50 steps of IG for nothing."""
    import json
    import sys

    from bertsent.models import load

    monkeypatch.setitem(sys.modules, "captum.attr", None)  # as if not installed
    text = "the acting was superb"
    command = ["explain", str(trained_model_dir), text, "--output", str(tmp_path), "--attention"]
    assert main(command) == 0
    printed = capsys.readouterr().out
    expected = load(trained_model_dir).predict([text])[0]
    assert printed.startswith(f"{expected} (p=") and "attention rollout" in printed
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "the-acting-was-superb-attention.png", "the-acting-was-superb.json",
    ]  # fmt: skip
    saved = json.loads((tmp_path / "the-acting-was-superb.json").read_text())
    assert saved["label"] == expected and "scores" not in saved
    assert set(saved["faithfulness"]) == {"k", "words", "attention rollout", "random"}
    assert main(["explain", str(trained_model_dir), text, "--attributions", "--output",
                 str(tmp_path / "ig")]) == 2  # fmt: skip
    assert "token attributions need Captum" in capsys.readouterr().err
