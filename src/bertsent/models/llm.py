"""Zero- or few-shot classification by a large language model the user runs.

Any OpenAI-compatible chat-completions server works (vLLM, llama.cpp's server, Ollama,
hosted APIs). Each review becomes one request; the reply must name one label. A reply
outside the label set is asked again, then counted as abstained (a row of zero
probabilities, the label ``abstained``), never guessed. Requests run ``concurrency`` at a
time with retries and exponential backoff on 429/5xx and timeouts; every answer that
names a label is kept in an on-disk cache keyed by server model, prompt and text, so a
rerun (or a run that resumes after a failure) asks only what it has not answered before
(a reply that named no label is asked again). The API key comes from
an environment variable, never the command line.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import logging
import os
import random
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Self

import numpy as np

from bertsent.cache import KeyValueCache
from bertsent.data.tasks import is_aspect_data, is_multi_label, label_names
from bertsent.errors import ConfigError, ModelError
from bertsent.models.base import SentimentClassifier, fit_lists, require_fitted
from bertsent.progress import progress_bar

logger = logging.getLogger(__name__)

SETTINGS_FILE = "llm.json"
NEGATED = re.compile(r"(?:\b(?:not|no|never|nor)|n't)\s+(?:\w+\s+)?$")  # "not (really) X"
SHORTENED = " [...] "
API_KEY_VARIABLE = "BERTSENT_LLM_API_KEY"
ENDPOINT_VARIABLE = "BERTSENT_LLM_ENDPOINT"  # a saved model's server, moved
DEFAULT_CACHE = Path("~/.cache/bertsent/llm.sqlite")
DEFAULT_PROMPT = (
    "Classify the sentiment of the movie review below. Answer with exactly one word, "
    "one of: {labels}.\n\nReview: {text}\nAnswer:"
)
RETRYABLE_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
REQUEST_SETTINGS = {"temperature": 0, "max_tokens": 8}  # part of every cache key


class LlmClassifier(SentimentClassifier):
    """A chat-completions model asked for one label per review.

    Args:
        endpoint: The server's base URL, e.g. ``http://127.0.0.1:8080/v1``.
        llm_model: The model name the server expects.
        prompt: Template with ``{labels}`` and ``{text}``.
        examples_per_label: Labelled reviews per label shown before each question (few-shot).
        concurrency: Requests in flight at once.
        attempts: Tries per request on connection errors, timeouts, 429 and 5xx.
        invalid_retries: Extra asks when the reply names no label.
        timeout: Seconds to wait for one reply.
        cache: SQLite file of answers (shared by runs; ``None``: no cache).
        seed: Picks the few-shot examples.
        max_chars: Characters of a review sent, and of all few-shot examples together: a
            longer one keeps its head and tail (see :func:`shortened`).
        endpoint_named_here: False when the endpoint was read from a saved model rather
            than named by you: the API key is then withheld from it (see
            :func:`key_withheld`); kept by ``clone``.
    """

    method = "llm"
    takes_aspects = False
    fitted_attribute = "labels_"
    needs_labels = False
    calls_: int  # requests sent by the last predict_proba (0: all from the cache)
    abstained_: int  # reviews of the last predict_proba without a valid label
    examples_: list[tuple[str, str]]  # (text, label) shown before each question

    def __init__(
        self,
        *,
        endpoint: str | None = None,
        llm_model: str = "default",
        prompt: str = DEFAULT_PROMPT,
        examples_per_label: int = 0,
        concurrency: int = 4,
        attempts: int = 4,
        invalid_retries: int = 1,
        timeout: float = 60.0,
        cache: str | None = str(DEFAULT_CACHE),
        seed: int = 42,
        max_chars: int = 4000,
        endpoint_named_here: bool = True,
    ) -> None:
        self.endpoint = endpoint
        self.llm_model = llm_model
        self.prompt = prompt
        self.examples_per_label = examples_per_label
        self.concurrency = concurrency
        self.attempts = attempts
        self.invalid_retries = invalid_retries
        self.timeout = timeout
        self.cache = cache
        self.seed = seed
        self.max_chars = max_chars
        self.endpoint_named_here = endpoint_named_here

    def check_settings(self) -> None:
        """Refuse settings that would fail only after the data is read (or on the server)."""
        if not self.endpoint:
            raise ConfigError(
                "the llm method needs --endpoint (an OpenAI-compatible server's base URL)",
                hint="e.g. --endpoint http://127.0.0.1:8080/v1 --llm-model NAME",
            )
        parts = urllib.parse.urlsplit(self.endpoint)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(
                f"--endpoint {self.endpoint!r} is not an http(s) URL with a host",
                hint="e.g. --endpoint http://127.0.0.1:8080/v1",
            )
        if "{text}" not in self.prompt or "{labels}" not in self.prompt:
            raise ConfigError("the LLM prompt template (--prompt) needs both {labels} and {text}")
        try:
            self.prompt.format(labels="positive, negative", text="A review.")
        except (KeyError, IndexError, ValueError) as exc:
            raise ConfigError(
                f"the LLM prompt template (--prompt) has a brace that is not {{labels}} or "
                f"{{text}} ({type(exc).__name__}: {exc})",
                hint="write a literal brace twice: {{ and }}",
            ) from None
        for name, value, least in (
            ("--examples-per-label", self.examples_per_label, 0),
            ("--concurrency", self.concurrency, 1),
            ("attempts", self.attempts, 1),
            ("invalid_retries", self.invalid_retries, 0),
            ("--llm-max-chars", self.max_chars, 100),
        ):
            if value < least:
                raise ConfigError(f"{name} must be at least {least}, not {value}")
        if not self.timeout > 0:
            raise ConfigError(f"the LLM timeout must be positive, not {self.timeout}")

    def fit(
        self,
        texts: Sequence[str],
        labels: Sequence[str],
        *,
        eval_texts: Sequence[str] | None = None,
        eval_labels: Sequence[str] | None = None,
    ) -> Self:
        """Take the label set (and the few-shot examples) from the labelled reviews;
        nothing is sent to the server here."""
        self.check_settings()
        texts, labels, eval_texts, eval_labels = fit_lists(texts, labels, eval_texts, eval_labels)
        seen = [*labels, *(eval_labels or [])]
        if not seen:
            raise ConfigError("the llm method needs labelled reviews to know the label set")
        if is_multi_label(seen):
            raise ConfigError("the llm method classifies one label per review, not multi-label")
        if is_aspect_data([*texts, *(eval_texts or [])]):
            raise ConfigError(
                "the llm method's prompt judges a whole review, not a sentence towards an aspect",
                hint="for aspect data use --method bert (or tfidf-lr as a baseline)",
            )
        self.labels_ = label_names(seen)
        self._fitted_task(None)  # not the task of an earlier fit or load
        rng = random.Random(self.seed)
        self.examples_ = []
        for label in self.labels_:
            pool = [text for text, gold in zip(texts, labels, strict=True) if gold == label]
            chosen = rng.sample(pool, min(self.examples_per_label, len(pool)))
            self.examples_ += [(text, label) for text in chosen]
        rng.shuffle(self.examples_)
        self.history_, self.best_ = [], {}
        self._record_fit(0.0, 0)
        self._remember_training_texts([text for text, _ in self.examples_])
        return self

    def messages(self, text: str) -> list[dict[str, str]]:
        """The chat for one review: the few-shot examples as earlier turns, then the question."""
        require_fitted(self)
        names = ", ".join(self.labels_)
        chat = []
        # the examples share one review's allowance: eight of them at full length would
        # overflow a small context window on every question
        allowances = fair_shares([len(text) for text, _ in self.examples_], self.max_chars)
        for (example, label), allowance in zip(self.examples_, allowances, strict=True):
            example = shortened(example, allowance)
            chat.append({"role": "user", "content": self.prompt.format(labels=names, text=example)})
            chat.append({"role": "assistant", "content": label})
        text = shortened(text, self.max_chars)
        chat.append({"role": "user", "content": self.prompt.format(labels=names, text=text)})
        return chat

    def parse(self, reply: str) -> str | None:
        """The label a reply names: the whole reply, else the only label word in it (a
        label inside a longer one that is named too, "positive" in "very positive", does
        not count, nor does a negated one, "not positive")."""
        cleaned = reply.strip().strip(".!\"'`* \n").lower()
        by_name = {label.lower(): label for label in self.labels_}
        if cleaned in by_name:
            return by_name[cleaned]
        # "not positive" names no label: a negated label is not the answer
        named = {
            label for lower, label in by_name.items()
            for found in re.finditer(rf"(?<!\w){re.escape(lower)}(?!\w)", cleaned)
            if not NEGATED.search(cleaned[: found.start()])
        }  # fmt: skip
        longest = {
            label for label in named
            if not any(label.lower() in other.lower() and label != other for other in named)
        }  # fmt: skip
        return longest.pop() if len(longest) == 1 else None

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """One-hot rows of the labels the model named; zero rows where it abstained.

        Raises:
            ModelError: the server cannot be reached, or keeps failing, after retries
                (answers received so far stay in the cache, so a rerun continues).
        """
        require_fitted(self)
        result = np.zeros((len(texts), len(self.labels_)), dtype=np.float32)
        cache = KeyValueCache(self.cache, table="answers")
        client = ChatClient(
            self.endpoint or "", self.timeout, self.attempts, named_here=self.endpoint_named_here
        )
        lock = threading.Lock()
        counts = {"calls": 0, "abstained": 0}

        def answer(index: int) -> None:
            messages = self.messages(texts[index])
            key = cache.key(
                {
                    "endpoint": client.url,
                    "model": self.llm_model,
                    "messages": messages,
                    **REQUEST_SETTINGS,
                }
            )
            reply = cache.get(key)
            label = None if reply is None else self.parse(reply)
            tries = 0
            while label is None and tries <= self.invalid_retries:
                try:
                    reply = client.complete(self.llm_model, messages)
                except ModelError as error:
                    review = " ".join(texts[index].split())
                    review = review if len(review) <= 60 else review[:57] + "..."
                    raise ModelError(
                        f"review {index + 1} ({review!r}): {error.message}", hint=error.hint
                    ) from None
                tries += 1
                label = self.parse(reply)
                if label is not None:
                    cache.put(key, reply)
            with lock:
                counts["calls"] += tries
                if label is None:
                    counts["abstained"] += 1
                else:
                    result[index, self.labels_.index(label)] = 1.0

        try:
            with (
                progress_bar(len(texts), "review") as bar,
                ThreadPoolExecutor(max_workers=max(1, self.concurrency)) as pool,
            ):
                for _ in pool.map(answer, range(len(texts))):
                    bar.update(1)
        finally:
            cache.close()
            self.calls_, self.abstained_ = counts["calls"], counts["abstained"]
        return result

    def count_parameters(self) -> int:
        return 0  # held by the server, not by us

    def _saved_settings(self) -> dict[str, Any]:
        """The parameters, less whose the endpoint is: whoever loads the folder decides."""
        settings = super()._saved_settings()
        settings["params"].pop("endpoint_named_here", None)
        return settings

    def _write_model(self, folder: Path) -> None:
        settings = {"labels": self.labels_, "examples": self.examples_}
        (folder / SETTINGS_FILE).write_text(json.dumps(settings, indent=2), encoding="utf-8")

    @classmethod
    def _from_saved(cls, path: Path, metadata: dict[str, Any], **options: Any) -> Self:
        try:
            settings = json.loads((path / SETTINGS_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ModelError(f"{path / SETTINGS_FILE} is missing or damaged ({exc})") from None
        classifier = cls(**metadata["params"])
        saved_cache = classifier.cache
        if saved_cache and not Path(saved_cache).expanduser().parent.is_dir():
            # another machine's --llm-cache: not created here at a path a folder names
            logger.info("answers cached in %s, not the saved %s (no such folder here)",
                        DEFAULT_CACHE, saved_cache)  # fmt: skip
            classifier.set_params(cache=str(DEFAULT_CACHE))
        moved = os.environ.get(ENDPOINT_VARIABLE, "").strip()
        if moved and moved != classifier.endpoint:
            logger.info("asking %s (from $%s), not the saved %s", moved, ENDPOINT_VARIABLE,
                        classifier.endpoint)  # fmt: skip
            classifier.set_params(endpoint=moved)
            classifier.check_settings()
        # the saved endpoint, unless you named it: clone keeps that (a parameter)
        classifier.set_params(endpoint_named_here=bool(moved))
        try:
            classifier.labels_ = [str(label) for label in settings["labels"]]
            classifier.examples_ = [(str(text), str(label)) for text, label in settings["examples"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(
                f"{path / SETTINGS_FILE} is damaged: it needs 'labels' and 'examples' "
                f"([text, label] pairs) ({type(exc).__name__}: {exc})"
            ) from None
        return classifier


def fair_shares(lengths: list[int], budget: int) -> list[int]:
    """Each length's share of ``budget``: the short ones whole, the rest splitting what
    they leave evenly (an even split cut a long example that the short ones left room for).

    >>> fair_shares([100, 1500, 300], 1200)
    [100, 800, 300]
    """
    shares = [0] * len(lengths)
    left = budget
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    for done, index in enumerate(order):
        shares[index] = min(lengths[index], left // (len(order) - done))
        left -= shares[index]
    return shares


def shortened(text: str, limit: int) -> str:
    """``text`` within ``limit`` characters: its head and its tail (where reviews often
    give their verdict) around " [...] ". A server refuses a prompt past its context
    window, and that one refusal would stop the whole run on every rerun.

    >>> shortened("a b c d e f g h", 9)
    'a [...] h'
    """
    if len(text) <= limit:
        return text
    half = max(1, (limit - len(SHORTENED)) // 2)
    head = text[:half].rsplit(" ", 1)[0] or text[:half]
    tail = text[-half:].split(" ", 1)[-1] or text[-half:]
    return head + SHORTENED + tail


def key_withheld(endpoint: str, named_here: bool) -> str | None:
    """Why ``$BERTSENT_LLM_API_KEY`` must not go to ``endpoint`` (None: it may).

    A server on this machine always gets it. Any other gets it only over https, and only
    when the user named it in this session (``--endpoint``, ``$BERTSENT_LLM_ENDPOINT``):
    a model folder someone shared must not send your key to the server it names.
    """
    parts = urllib.parse.urlsplit(endpoint)
    if on_this_machine(parts.hostname or ""):
        return None
    if parts.scheme != "https":
        return f"{endpoint} is plain http to another machine: the key would travel unencrypted"
    if not named_here:
        return (
            f"{endpoint} was named by the saved model, not by you: set "
            f"${ENDPOINT_VARIABLE}={endpoint} to send the key there"
        )
    return None


def on_this_machine(host: str) -> bool:
    """``localhost`` or a loopback address; a name that merely starts with "127." (such
    as ``127.example.com``) is another machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an error: urllib would follow it with the Authorization header to
    wherever it points, over plain http too, and turn the POST into a bodiless GET."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


OPENER = urllib.request.build_opener(NoRedirects())


class ChatClient:
    """POSTs to ``{endpoint}/chat/completions`` with retries and exponential backoff."""

    def __init__(
        self, endpoint: str, timeout: float, attempts: int, *, named_here: bool = True
    ) -> None:
        self.url = endpoint.rstrip("/") + "/chat/completions"
        self.timeout = timeout
        self.attempts = max(1, attempts)
        key = os.environ.get(API_KEY_VARIABLE)
        self.headers = {"Content-Type": "application/json"}
        self.withheld = key_withheld(endpoint, named_here) if key else None
        if self.withheld:
            logger.warning("not sending $%s: %s", API_KEY_VARIABLE, self.withheld)
        elif key:
            self.headers["Authorization"] = f"Bearer {key}"

    def complete(self, model: str, messages: list[dict[str, str]]) -> str:
        """The reply's text.

        Raises:
            ModelError: after ``attempts`` failures, naming the last one.
        """
        body = json.dumps({"model": model, "messages": messages, **REQUEST_SETTINGS}).encode()
        problem = ""
        hint = (
            "check that the server is running at the endpoint (`bertsent train --endpoint`, "
            f"saved with the model; ${ENDPOINT_VARIABLE} points a saved model elsewhere)"
        )
        for attempt in range(self.attempts):
            request = urllib.request.Request(self.url, body, self.headers, method="POST")
            wait = min(30.0, 0.5 * 2**attempt)
            try:
                with OPENER.open(request, timeout=self.timeout) as response:
                    reply = json.loads(response.read())
                return str(reply["choices"][0]["message"]["content"] or "")
            except urllib.error.HTTPError as error:
                problem = f"HTTP {error.code} {error.reason}{_said(error)}"
                if error.code in (401, 403):
                    hint = (
                        f"the key was not sent: {self.withheld}"
                        if self.withheld
                        else f"the server refused the key: set ${API_KEY_VARIABLE} to a valid one"
                    )
                if error.code not in RETRYABLE_STATUS:
                    break
                retry_after = error.headers.get("Retry-After", "")
                if retry_after.replace(".", "", 1).isdigit():
                    wait = min(60.0, float(retry_after))
            except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
                reason = getattr(error, "reason", error)
                problem = (
                    f"timed out after {self.timeout:g} s"
                    if isinstance(reason, TimeoutError)
                    else f"cannot connect ({reason})"
                )
            except (http.client.HTTPException, OSError) as error:  # a reply cut short
                problem = f"the connection broke mid-reply ({type(error).__name__}: {error})"
            except (ValueError, KeyError, IndexError, TypeError) as error:
                problem = f"a reply that is not a chat completion ({error})"
                break
            if attempt + 1 < self.attempts:
                time.sleep(wait)
        raise ModelError(
            f"LLM endpoint {self.url}: {problem} (after {attempt + 1} attempts)",
            hint=f"{hint}; answers received so far are cached, so running again continues "
            "where this stopped",
        )


def _said(error: urllib.error.HTTPError) -> str:
    """The start of an error reply's body (the server's reason: an unknown model, a
    review longer than its context), or nothing."""
    try:
        text = error.read(400).decode("utf-8", "replace")
    except (OSError, http.client.HTTPException):
        return ""
    text = " ".join(text.split())
    return f": {text[:200]}" if text else ""
