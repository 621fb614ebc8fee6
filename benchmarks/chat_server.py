"""A stand-in OpenAI-compatible chat-completions server, for tests and the LLM benchmark.

No language model can be fetched here (no GGUF model is on the package registries, and
the Hugging Face Hub is unreachable), so this server speaks the wire format of
``POST /v1/chat/completions`` and answers from a small sentiment lexicon. It measures
bertsent's client (concurrency, retries, cache, abstentions, seconds per review), not
what an LLM would score. The ``model`` field picks a behaviour:

- ``lexicon``: one label, by counting positive and negative words in the review;
- ``chatty``: a reply that names no label;
- ``hesitant``: the first ask about each review names no label, the second does;
- ``flaky``: every other ask about each review, the first among them, gets 429 with
  ``Retry-After: 1`` (counted per review, so concurrent clients cannot starve one);
- ``broken``: always 500;
- ``slow``: answers after 3 seconds;
- ``rejecting``: always 400, saying why (as a server does for a review over its context);
- ``keyed``: 401 unless the request carries ``Authorization: Bearer right-key``;
- ``cut``: every other reply about each review, the first among them, is cut short (the
  connection closes mid-body).

``GET /stats`` returns ``{"requests": N}``. Run: ``python benchmarks/chat_server.py PORT``.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

POSITIVE_WORDS = """good great best fine fun funny enjoyable entertaining moving wonderful
excellent brilliant beautiful charming delightful smart clever engaging compelling powerful
touching witty superb solid rare gem love loved lovely masterpiece terrific"""
NEGATIVE_WORDS = """bad worst boring dull tedious mess awful terrible stupid flat lifeless
pointless predictable tired lame weak poor waste unfunny clumsy sloppy bland hate hated
fails failure annoying silly disappointing mediocre forgettable"""
POSITIVE, NEGATIVE = set(POSITIVE_WORDS.split()), set(NEGATIVE_WORDS.split())
POSITIVE_LABELS = ("fresh", "positive", "pos")


class State:
    requests = 0
    asked: dict[str, int] = {}  # noqa: RUF012 - one server, one state
    lock = threading.Lock()


def lexicon_label(prompt: str) -> str:
    labels = re.search(r"one of: ([^.\n]+)", prompt)
    names = [name.strip() for name in labels.group(1).split(",")] if labels else ["positive"]
    review = prompt.rsplit("Review:", 1)[-1].lower()
    words = re.findall(r"[a-z]+", review)
    score = sum(word in POSITIVE for word in words) - sum(word in NEGATIVE for word in words)
    positive = [n for n in names if n.lower() in POSITIVE_LABELS] or names[:1]
    negative = [n for n in names if n not in positive] or names[-1:]
    return positive[0] if score >= 0 else negative[0]


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:  # quiet
        return

    def reply(self, status: int, body: dict[str, object], headers: dict[str, str] | None = None):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/stats":
            self.reply(200, {"requests": State.requests})
        else:
            self.reply(404, {"error": "not found"})

    def do_POST(self) -> None:
        if self.path.rstrip("/") != "/v1/chat/completions":
            self.reply(404, {"error": {"message": f"no route {self.path}"}})
            return
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        prompt = request["messages"][-1]["content"]
        model = request.get("model", "lexicon")
        with State.lock:
            State.requests += 1
            count = State.requests
            key = f"{model}\n{prompt}"
            State.asked[key] = State.asked.get(key, 0) + 1
            asked = State.asked[key]
        if model == "broken":
            self.reply(500, {"error": {"message": "internal error"}})
            return
        if model == "flaky" and asked % 2 == 1:
            self.reply(429, {"error": {"message": "slow down"}}, {"Retry-After": "1"})
            return
        if model == "moved":  # a redirect a client must not follow with its key
            self.reply(302, {}, {"Location": f"{self.path}?moved=1"})
            return
        if model == "rejecting":
            self.reply(400, {"error": {"message": "the prompt is longer than the context"}})
            return
        if model == "keyed" and self.headers.get("Authorization") != "Bearer right-key":
            self.reply(401, {"error": {"message": "invalid API key"}})
            return
        if model == "cut" and asked % 2 == 1:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "500")
            self.end_headers()
            self.wfile.write(b'{"choices": [')
            self.close_connection = True
            return
        if model == "slow":
            time.sleep(3)
        content = lexicon_label(prompt)
        if model == "chatty" or (model == "hesitant" and asked == 1):
            content = "Hard to say, really; it has its moments."
        self.reply(
            200,
            {
                "id": f"chatcmpl-{count}",
                "object": "chat.completion",
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": "stop",
                    }
                ],
            },
        )


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client that gave up
            super().handle_error(request, client_address)  # type: ignore[arg-type]


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    server = Server(("127.0.0.1", port), Handler)
    print(f"listening on http://127.0.0.1:{server.server_address[1]}/v1", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
