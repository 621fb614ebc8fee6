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
from sklearn.base import clone

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
    classifier.fit(np.array(["x", "y"]), np.array(["fresh", "rotten"]),  # arrays, as sklearn's
                   eval_texts=np.array(["z"]), eval_labels=np.array(["fresh"]))  # fmt: skip
    assert classifier.parse(" Fresh.\n") == "fresh"
    assert classifier.parse("The review is rotten overall") == "rotten"
    assert classifier.parse("fresh or rotten?") is None
    assert classifier.parse("refreshing") is None
    # a negated label is not the answer: "not fresh" named "fresh" before
    assert classifier.parse("Not fresh") is None
    assert classifier.parse("It isn't really rotten.") is None
    assert classifier.parse("Fresh, not rotten") == "fresh"


def test_rate_limits_are_retried_and_failures_named(endpoint: str, tmp_path: Path) -> None:
    flaky = model(endpoint, tmp_path, "flaky")
    before, started = requests_so_far(endpoint), time.perf_counter()
    assert flaky.predict(TEXTS) == LABELS  # the first ask about each review was a 429
    assert requests_so_far(endpoint) == before + 8  # each review asked twice, in any order
    assert time.perf_counter() - started >= 1  # its Retry-After: 1, not the 0.5 s backoff
    with pytest.raises(ModelError, match=r"HTTP 500 .*after 2 attempts"):
        model(endpoint, tmp_path, "broken", attempts=2).predict(TEXTS[:1])
    with pytest.raises(ModelError, match=r"timed out after 0.5 s"):
        model(endpoint, tmp_path, "slow", attempts=1, timeout=0.5).predict(TEXTS[:1])
    before = requests_so_far(endpoint)
    with pytest.raises(ModelError, match=r"HTTP 302 .*after 1 attempts"):
        model(endpoint, tmp_path, "moved").predict(TEXTS[:1])
    assert requests_so_far(endpoint) == before + 1  # not followed, with the key, elsewhere
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
    monkeypatch.chdir(tmp_path)
    prompt = tmp_path / "prompt.txt"
    prompt.write_text("Labels: one of: {labels}.\nReview: {text}\nAnswer:")
    output = tmp_path / "model"
    code = main(["-q", "train", "--data", str(dataset_dir), "--method", "llm",
                 "--endpoint", endpoint, "--llm-model", "lexicon", "--prompt", str(prompt),
                 "--llm-cache", "c.sqlite", "--output", str(output)])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    accuracy = float(re.search(r"dev accuracy ([\d.]+)", printed).group(1))  # type: ignore[union-attr]
    assert accuracy >= 0.9  # most synthetic reviews' sentiment words are in the lexicon
    saved = json.loads((output / "bertsent.json").read_text())
    assert saved["params"]["prompt"].startswith("Labels:")
    assert saved["params"]["cache"] == str(tmp_path.resolve() / "c.sqlite")  # not cwd-relative
    assert "secret" not in (output / "bertsent.json").read_text()
    assert main(["train", "--data", str(dataset_dir), "--method", "llm",
                 "--output", str(tmp_path / "no")]) != 0  # fmt: skip
    assert "needs --endpoint" in capsys.readouterr().err


def test_a_longer_label_named_in_the_reply_wins_over_the_label_inside_it() -> None:
    classifier = LlmClassifier(endpoint="http://127.0.0.1:9/v1", cache=None)
    scale = ["very negative", "negative", "neutral", "positive", "very positive"]
    classifier.fit(scale, scale)
    assert classifier.parse("Answer: very positive") == "very positive"
    assert classifier.parse("The sentiment is very negative.") == "very negative"
    assert classifier.parse("positive") == "positive"
    assert classifier.parse("very positive, or rather negative") is None  # two labels named
    assert classifier.parse("not very positive, rather negative") == "negative"  # one negated


def test_the_cache_is_kept_per_server(endpoint: str, tmp_path: Path) -> None:
    first = model(endpoint, tmp_path)
    first.predict(TEXTS)
    other = endpoint.replace("127.0.0.1", "localhost")  # another server, as far as a key knows
    second = model(other, tmp_path)  # the same cache file
    assert second.predict(TEXTS) == LABELS
    assert second.calls_ == 4  # asked again, not answered with the first server's replies
    assert model(endpoint, tmp_path).predict(TEXTS) == LABELS


def test_server_refusals_say_why_and_which_review_and_cut_replies_are_retried(
    endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ModelError, match=r"review 1 \('a great and moving film'\): .*HTTP 400"
                       r".*longer than the context") as refused:  # fmt: skip
        model(endpoint, tmp_path, "rejecting").predict(TEXTS)
    assert "after 1 attempts" in str(refused.value)  # a 400 is not retried
    monkeypatch.setenv("BERTSENT_LLM_API_KEY", "wrong-key")
    with pytest.raises(ModelError, match=r"HTTP 401.*invalid API key") as refused:
        model(endpoint, tmp_path, "keyed").predict(TEXTS[:1])
    assert "$BERTSENT_LLM_API_KEY" in str(refused.value)
    monkeypatch.setenv("BERTSENT_LLM_API_KEY", "right-key")
    assert model(endpoint, tmp_path, "keyed").predict(TEXTS) == LABELS
    cut = model(endpoint, tmp_path, "cut")
    assert cut.predict(TEXTS) == LABELS  # each cut reply was asked again


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"prompt": 'Reply as {"label": x}. One of: {labels}\n{text}'}, r"--prompt\) has a brace"),
        ({"endpoint": "127.0.0.1:8080/v1"}, r"not an http\(s\) URL"),
        ({"examples_per_label": -1}, r"--examples-per-label must be at least 0"),
        ({"concurrency": 0}, r"--concurrency must be at least 1"),
    ],
)
def test_settings_that_would_fail_later_are_refused_before_any_work(
    params: dict[str, object], named: str
) -> None:
    settings: dict[str, object] = {"endpoint": "http://127.0.0.1:9/v1", "cache": None, **params}
    with pytest.raises(ConfigError, match=named):
        LlmClassifier(**settings).fit(TEXTS, LABELS)  # type: ignore[arg-type]


def test_aspect_data_is_refused_by_the_llm_method() -> None:
    pairs = ["The battery dies [SEP] battery", "The screen glows [SEP] screen"]
    with pytest.raises(ConfigError, match="aspect"):
        LlmClassifier(endpoint="http://127.0.0.1:9/v1", cache=None).fit(pairs, LABELS[:2])


def test_a_damaged_settings_file_is_named(endpoint: str, tmp_path: Path) -> None:
    saved = model(endpoint, tmp_path).save(tmp_path / "llm")
    (saved / "llm.json").write_text(json.dumps({"labels": ["positive", "negative"]}))
    with pytest.raises(ModelError, match=r"llm\.json is damaged.*'examples'"):
        load(saved)


def test_cli_reports_abstentions_prints_them_and_can_turn_the_cache_off(
    endpoint: str, dataset_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    output = tmp_path / "chatty"
    code = main(["-q", "train", "--data", str(dataset_dir), "--method", "llm",
                 "--endpoint", endpoint, "--llm-model", "chatty", "--llm-cache", "",
                 "--output", str(output)])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert re.search(r"warning: abstained on (\d+) of \1 dev reviews", printed)
    saved = json.loads((output / "bertsent.json").read_text())
    assert saved["metrics"]["dev"]["abstained"] == saved["metrics"]["dev"]["n"]
    assert not (tmp_path / "home" / ".cache").exists()  # '' means no cache, not the default
    assert main(["predict", str(output), "An awful film"]) == 0
    assert "abstained" in capsys.readouterr().out
    assert main(["evaluate", str(output), "--data", str(dataset_dir)]) == 0
    assert "abstained on" in capsys.readouterr().out
    with pytest.raises(SystemExit):  # an argparse error
        main(["compare", "--data", str(dataset_dir), "--methods", "llm,bow-svm"])
    assert "bertsent train --method llm" in capsys.readouterr().err


def test_a_saved_model_asks_the_server_named_by_the_environment(
    endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    saved = LlmClassifier(endpoint="http://127.0.0.1:9/v1", llm_model="lexicon", cache=None)
    folder = saved.fit(TEXTS, LABELS).save(tmp_path / "old-server")
    with pytest.raises(ModelError, match="BERTSENT_LLM_ENDPOINT"):  # the hint says how
        load(folder).predict(TEXTS[:1])
    monkeypatch.setenv("BERTSENT_LLM_ENDPOINT", endpoint)
    assert load(folder).predict(TEXTS) == LABELS


def test_the_key_goes_only_to_a_server_the_user_named_over_https_or_on_this_machine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bertsent.models.llm import ChatClient, key_withheld

    monkeypatch.setenv("BERTSENT_LLM_API_KEY", "my-key")
    for local in ("http://127.0.0.1:8080/v1", "http://localhost:8080/v1", "http://[::1]:80/v1",
                  "http://127.0.0.2/v1"):  # fmt: skip
        assert key_withheld(local, named_here=False) is None
    for elsewhere in ("http://127.evil.example/v1", "http://127.0.0.1.nip.io/v1"):
        assert "plain http" in str(key_withheld(elsewhere, named_here=True))
    assert "plain http" in str(key_withheld("http://api.example.com/v1", named_here=True))
    assert key_withheld("https://api.example.com/v1", named_here=True) is None
    # a shared model folder names its server: your key does not go there unasked
    shared = LlmClassifier(endpoint="https://api.example.com/v1", cache=None)
    folder = shared.fit(TEXTS, LABELS).save(tmp_path / "shared")
    loaded = load(folder)
    assert isinstance(loaded, LlmClassifier) and not loaded.endpoint_named_here
    client = ChatClient(loaded.endpoint or "", 1.0, 1, named_here=loaded.endpoint_named_here)
    assert "Authorization" not in client.headers
    assert "BERTSENT_LLM_ENDPOINT=https://api.example.com/v1" in str(client.withheld)
    assert clone(loaded).endpoint_named_here is False  # a clone is still the folder's server
    saved = json.loads((folder / "bertsent.json").read_text())["params"]
    assert "endpoint_named_here" not in saved  # whoever loads it decides, not the file
    monkeypatch.setenv("BERTSENT_LLM_ENDPOINT", "https://api.example.com/v1")  # now you did
    named = load(folder)
    assert isinstance(named, LlmClassifier) and named.endpoint_named_here
    client = ChatClient(named.endpoint or "", 1.0, 1, named_here=named.endpoint_named_here)
    assert client.headers["Authorization"] == "Bearer my-key"


def test_a_cache_folder_of_another_machine_becomes_the_default_cache(tmp_path: Path) -> None:
    """A folder trained with --llm-cache /home/alice/c.sqlite failed to load elsewhere,
    or made the loader create the folders it named."""
    kept = str(tmp_path / "answers.sqlite")
    elsewhere = str(tmp_path / "alice" / "answers.sqlite")
    for cache, expected in (
        (kept, kept),
        (elsewhere, "~/.cache/bertsent/llm.sqlite"),
        (None, None),
    ):
        folder = LlmClassifier(endpoint="http://127.0.0.1:9/v1", cache=cache).fit(TEXTS, LABELS)
        loaded = load(folder.save(tmp_path / f"model-{len(list(tmp_path.iterdir()))}"))
        assert isinstance(loaded, LlmClassifier) and loaded.cache == expected
    assert not (tmp_path / "alice").exists()


def test_two_llm_models_are_told_apart_when_a_file_run_is_resumed(tmp_path: Path) -> None:
    from bertsent.inference.files import model_fingerprint

    folders = [
        LlmClassifier(endpoint="http://127.0.0.1:9/v1", llm_model=name, cache=None)
        .fit(TEXTS, LABELS)
        .save(tmp_path / name)
        for name in ("small", "large")
    ]
    small, large = (model_fingerprint(f, load(f))["weights"] for f in folders)
    assert small and small != large  # no weights: their settings tell them apart


def test_a_review_past_the_character_limit_is_sent_as_its_head_and_tail() -> None:
    """A server refuses a prompt past its context window: one long review stopped a run."""
    classifier = LlmClassifier(endpoint="http://127.0.0.1:9/v1", cache=None, max_chars=200)
    long_review = "It starts slow. " + "filler words here " * 100 + "In the end, superb."
    classifier.fit([long_review, "bad"], ["positive", "negative"])
    question = classifier.messages(long_review)[-1]["content"]
    assert "It starts slow." in question and "In the end, superb." in question
    assert " [...] " in question and len(question) < 200 + len(classifier.prompt)
    assert classifier.messages("short and sweet")[-1]["content"].count("short and sweet") == 1
    # the few-shot examples share one allowance: eight long ones overflowed a context
    few_shot = LlmClassifier(endpoint="http://127.0.0.1:9/v1", cache=None, max_chars=800,
                             examples_per_label=4)  # fmt: skip
    few_shot.fit([long_review] * 8, ["positive", "negative"] * 4)
    shown = [turn["content"] for turn in few_shot.messages("fine")[:-1] if turn["role"] == "user"]
    assert len(shown) == 8 and sum(len(turn) - len(few_shot.prompt) for turn in shown) < 800
    from bertsent.models.llm import fair_shares

    assert fair_shares([100, 1500, 300], 1200) == [100, 800, 300]  # the short ones whole
    with pytest.raises(ConfigError, match="--llm-max-chars must be at least 100"):
        LlmClassifier(endpoint="http://127.0.0.1:9/v1", max_chars=10).fit(["a"], ["b"])
