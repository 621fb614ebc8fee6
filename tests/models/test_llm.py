"""The llm method against a real chat-completions server process on 127.0.0.1."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from bertsent.cli import main
from bertsent.errors import ConfigError, ModelError
from bertsent.evaluation.metrics import classification_report
from bertsent.models import load
from bertsent.models.llm import LlmClassifier

SERVER = Path(__file__).resolve().parents[2] / "benchmarks" / "chat_server.py"
TEXTS = ["a great and moving film", "dull, boring and a mess", "wonderful", "awful"]
LABELS = ["positive", "negative", "positive", "negative"]


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    process = subprocess.Popen(
        [sys.executable, str(SERVER), "0"], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    found = re.search(r"(http://127\.0\.0\.1:\d+/v1)", line)
    assert found, line
    yield found.group(1)
    process.terminate()
    process.wait(timeout=10)


def requests_so_far(endpoint: str) -> int:
    with urllib.request.urlopen(endpoint.removesuffix("/v1") + "/stats") as response:
        return int(json.loads(response.read())["requests"])


def model(endpoint: str, tmp_path: Path, name: str = "lexicon", **params: object) -> LlmClassifier:
    classifier = LlmClassifier(
        endpoint=endpoint, llm_model=name, cache=str(tmp_path / "cache.sqlite"), **params
    )
    return classifier.fit(TEXTS, LABELS)


def test_answers_are_parsed_cached_and_a_rerun_sends_nothing(endpoint: str, tmp_path: Path) -> None:
    classifier = model(endpoint, tmp_path)
    before = requests_so_far(endpoint)
    assert classifier.predict(TEXTS) == LABELS
    assert classifier.calls_ == 4 and requests_so_far(endpoint) == before + 4
    again = load(classifier.save(tmp_path / "llm"))
    assert again.predict(TEXTS) == LABELS
    assert again.calls_ == 0 and requests_so_far(endpoint) == before + 4  # all from the cache


def test_a_reply_without_a_label_is_asked_again_then_abstained(
    endpoint: str, tmp_path: Path
) -> None:
    hesitant = model(endpoint, tmp_path, "hesitant")
    assert hesitant.predict(TEXTS) == LABELS  # the second ask names the label
    assert hesitant.calls_ == 8 and hesitant.abstained_ == 0
    chatty = model(endpoint, tmp_path, "chatty", invalid_retries=1)
    probabilities = chatty.predict_proba(TEXTS)
    assert chatty.abstained_ == 4 and not probabilities.any()  # never guessed
    assert chatty.predict(TEXTS) == ["abstained"] * 4
    report = classification_report(LABELS, probabilities, chatty.labels_)
    assert report["accuracy"] == 0.0 and report["abstained"] == 4
    assert np.sum(report["confusion_matrix"]) == 0


def test_parse_takes_the_whole_reply_or_a_single_label_word(tmp_path: Path) -> None:
    classifier = LlmClassifier(endpoint="http://127.0.0.1:9/v1", cache=None)
    classifier.fit(["x", "y"], ["fresh", "rotten"])
    assert classifier.parse(" Fresh.\n") == "fresh"
    assert classifier.parse("The review is rotten overall") == "rotten"
    assert classifier.parse("fresh or rotten?") is None
    assert classifier.parse("refreshing") is None


def test_rate_limits_are_retried_and_failures_named(endpoint: str, tmp_path: Path) -> None:
    flaky = model(endpoint, tmp_path, "flaky")
    assert flaky.predict(TEXTS) == LABELS  # every other request was a 429
    with pytest.raises(ModelError, match=r"HTTP 500 .*after 2 attempts"):
        model(endpoint, tmp_path, "broken", attempts=2).predict(TEXTS[:1])
    with pytest.raises(ModelError, match=r"timed out after 0.5 s"):
        model(endpoint, tmp_path, "slow", attempts=1, timeout=0.5).predict(TEXTS[:1])
    unreachable = LlmClassifier(endpoint="http://127.0.0.1:9/v1", attempts=2, cache=None)
    started = time.perf_counter()
    with pytest.raises(ModelError, match=r"cannot connect"):
        unreachable.fit(TEXTS, LABELS).predict(TEXTS[:1])
    assert time.perf_counter() - started < 5


def test_answers_received_before_a_failure_are_kept(endpoint: str, tmp_path: Path) -> None:
    cache = str(tmp_path / "kept.sqlite")
    first = LlmClassifier(endpoint=endpoint, llm_model="lexicon", cache=cache).fit(TEXTS, LABELS)
    first.predict(TEXTS[:2])
    resumed = LlmClassifier(endpoint=endpoint, llm_model="lexicon", cache=cache)
    resumed.fit(TEXTS, LABELS).predict(TEXTS)
    assert resumed.calls_ == 2  # only the two not answered before


def test_few_shot_examples_become_earlier_turns_and_settings_are_checked(tmp_path: Path) -> None:
    classifier = LlmClassifier(endpoint="http://x/v1", examples_per_label=1, cache=None)
    classifier.fit(TEXTS, LABELS)
    chat = classifier.messages("a new review")
    assert [turn["role"] for turn in chat] == ["user", "assistant", "user", "assistant", "user"]
    assert sorted(turn["content"] for turn in chat[1:4:2]) == ["negative", "positive"]
    assert chat[-1]["content"].endswith("Review: a new review\nAnswer:")
    with pytest.raises(ConfigError, match="needs --endpoint"):
        LlmClassifier().fit(TEXTS, LABELS)
    with pytest.raises(ConfigError, match=r"\{labels\} and \{text\}"):
        LlmClassifier(endpoint="http://x/v1", prompt="Rate: {text}").fit(TEXTS, LABELS)


def test_cli_trains_and_evaluates_against_the_server(
    endpoint: str, dataset_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("BERTSENT_LLM_API_KEY", "secret-from-the-environment")
    prompt = tmp_path / "prompt.txt"
    prompt.write_text("Labels: one of: {labels}.\nReview: {text}\nAnswer:")
    output = tmp_path / "model"
    code = main(["-q", "train", "--data", str(dataset_dir), "--method", "llm",
                 "--endpoint", endpoint, "--llm-model", "lexicon", "--prompt", str(prompt),
                 "--llm-cache", str(tmp_path / "c.sqlite"), "--output", str(output)])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    accuracy = float(re.search(r"dev accuracy ([\d.]+)", printed).group(1))  # type: ignore[union-attr]
    assert accuracy >= 0.9  # most synthetic reviews' sentiment words are in the lexicon
    saved = json.loads((output / "bertsent.json").read_text())
    assert saved["params"]["prompt"].startswith("Labels:")
    assert "secret" not in (output / "bertsent.json").read_text()
    assert main(["train", "--data", str(dataset_dir), "--method", "llm",
                 "--output", str(tmp_path / "no")]) != 0  # fmt: skip
    assert "needs --endpoint" in capsys.readouterr().err
