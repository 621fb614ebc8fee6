"""Abuse of the real HTTP service: 1,000 half-open connections, then bursts of explanations.

Starts ``bertsent serve MODEL`` on a free loopback port with short read deadlines, then

1. measures the quiet latency of a one-review ``/v1/predict`` (new connection each);
2. opens 1,000 half-open connections, half stopping inside the headers and half inside
   the body (slow-loris), and measures the same request's latency while they are open
   (target: median not more than 100 ms above the quiet median);
3. records when the server closed each half-open connection (target: every one within
   its deadline plus a 1 s margin, counted from its connect);
4. runs 3 warm-up explanations and reads the server's RSS, then 5 bursts of 8
   explanations from 4 concurrent clients (one runs at a time; the others are told
   503 busy and retry) and reads the RSS after each (target: the last within 20% of
   the level after warm-up).

Prints a table and writes benchmarks/results/serve-abuse.json with the targets and
whether each was met. Without MODEL_DIR it builds a tiny random BERT (fast, but its
explanations are too small to say much about memory).

    python benchmarks/serve_abuse.py runs/rt-model
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from results_file import save_results
from serve_load import free_port, start_server  # this folder: run as a script

RESULTS = Path(__file__).parent / "results"
LATENCY_TARGET_MS = 100.0
CLOSE_MARGIN_S = 1.0
RSS_TARGET = 0.20
# the words of made-up reviews: explanations of varied lengths, as a page's users send
SENTENCE = (
    "the film was a great and moving story but the plot felt dull tedious and slow while "
    "the acting stayed superb charming and quite fun until a mess"
)
WORDS = SENTENCE.split()


def raise_file_limit(wanted: int) -> int:
    """This process holds every half-open socket: lift the soft limit toward the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        soft = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return soft


def tiny_model(folder: Path) -> str:
    """A 2-layer random BERT with the real tokenizer, fine-tuned 1 epoch on made-up reviews."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    from bertsent.cli import main
    from bertsent.encoders.pretrained import DEFAULT_MODEL, resolve_model

    encoder = folder / "encoder"
    tokenizer = AutoTokenizer.from_pretrained(resolve_model(DEFAULT_MODEL))
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=64, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=128)  # fmt: skip
    BertModel(config).save_pretrained(encoder)
    tokenizer.save_pretrained(encoder)
    rng = random.Random(0)
    data = folder / "data"
    data.mkdir()
    for split, n in {"train": 200, "dev": 40, "test": 40}.items():
        rows = [{"text": review(rng), "label": rng.choice(["positive", "negative"])}
                for _ in range(n)]  # fmt: skip
        lines = ["text,label", *(f'"{r["text"]}",{r["label"]}' for r in rows)]
        (data / f"{split}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    model = folder / "model"
    main(["-q", "train", "--data", str(data), "--model", str(encoder), "--output", str(model),
          "--epochs", "1", "--max-length", "128"])  # fmt: skip
    return str(model)


def review(rng: random.Random, low: int = 10, high: int = 80) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(low, high)))


async def request(port: int, path: str, payload: dict[str, Any]) -> tuple[int, float]:
    """One request on a new connection: (status, seconds)."""
    body = json.dumps(payload).encode()
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
        + body
    )
    answer = await reader.read()  # until the server closes
    writer.close()
    status = int(answer.split(b" ", 2)[1]) if answer else 0
    return status, time.perf_counter() - started


async def latencies(port: int, n: int) -> list[float]:
    """``n`` one-review predictions one after another, in ms; any non-200 is an error."""
    times = []
    for i in range(n):
        status, seconds = await request(port, "/v1/predict", {"texts": [f"a fine film {i}"]})
        if status != 200:
            raise SystemExit(f"a normal request got {status} during the test")
        times.append(seconds * 1000)
    return times


PARTIAL_HEAD = b"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Ty"
PARTIAL_BODY = (
    b"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    b"Content-Length: 500\r\n\r\n" + b'{"texts": ["never fin'
)


async def half_open(
    port: int, kind: str, deadline_s: float, sent: asyncio.Semaphore
) -> dict[str, Any]:
    """Connect, send part of a request, wait for the server to close; when, relative to its
    deadline (counted from just before the connect, so never flattering)."""
    connected = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(PARTIAL_HEAD if kind == "head" else PARTIAL_BODY)
    await writer.drain()
    sent.release()
    try:
        answer = await asyncio.wait_for(reader.read(), deadline_s + 30)
        closed_after = time.perf_counter() - connected
    except TimeoutError:
        answer, closed_after = b"", float("inf")
    writer.close()
    return {
        "kind": kind,
        "closed_after_s": closed_after,
        "deadline_s": deadline_s,
        "status": int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else None,
    }


async def slow_loris(port: int, n: int, header_s: float, body_s: float) -> dict[str, Any]:
    quiet = await latencies(port, 20)
    kinds = ["head" if i % 2 == 0 else "body" for i in range(n)]
    sent = asyncio.Semaphore(0)
    holders = [
        asyncio.create_task(half_open(port, kind, header_s if kind == "head" else body_s, sent))
        for kind in kinds
    ]
    opening = time.perf_counter()
    for _ in range(n):  # every one connected and holding half a request
        await sent.acquire()
    opened_in = time.perf_counter() - opening
    during = await latencies(port, 20)
    still_open_after = sum(not task.done() for task in holders)  # all open while we measured
    closed = await asyncio.gather(*holders)
    overshoot = [c["closed_after_s"] - c["deadline_s"] for c in closed]
    return {
        "connections": n,
        "seconds_to_open_all": opened_in,
        "open_while_measuring": still_open_after,
        "quiet_p50_ms": statistics.median(quiet),
        "during_p50_ms": statistics.median(during),
        "during_max_ms": max(during),
        "closed_within_deadline_plus_margin": sum(o <= CLOSE_MARGIN_S for o in overshoot),
        "closed_early": sum(o < -0.05 for o in overshoot),
        "max_overshoot_s": max(overshoot),
        "answered_408": sum(c["status"] == 408 for c in closed),
    }


async def explain_bursts(port: int, pid: int, bursts: int, per_burst: int) -> dict[str, Any]:
    rng = random.Random(1)
    process = psutil.Process(pid)

    async def explain_until_done(count: int) -> int:
        busy = 0
        for _ in range(count):
            while True:
                status, _ = await request(port, "/v1/explain", {"text": review(rng)})
                if status == 200:
                    break
                if status != 503:
                    raise SystemExit(f"an explanation got {status}")
                busy += 1
                await asyncio.sleep(0.05)
        return busy

    for _ in range(3):
        await explain_until_done(1)
    after_warm_up = process.memory_info().rss
    levels, busy, seconds = [], 0, []
    clients = 4
    for _ in range(bursts):
        started = time.perf_counter()
        results = await asyncio.gather(
            *(explain_until_done(per_burst // clients) for _ in range(clients))
        )
        seconds.append(time.perf_counter() - started)
        busy += sum(results)
        levels.append(process.memory_info().rss)
    return {
        "rss_after_warm_up_mb": after_warm_up / 2**20,
        "rss_after_each_burst_mb": [level / 2**20 for level in levels],
        "rss_growth": levels[-1] / after_warm_up - 1,
        "explanations": bursts * clients * (per_burst // clients),  # as many as ran
        "busy_503_retried": busy,
        "burst_seconds": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model_dir", nargs="?", help="default: a tiny model built here")
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--header-timeout", type=float, default=2.0)
    parser.add_argument("--body-timeout", type=float, default=3.0)
    parser.add_argument("--bursts", type=int, default=5)
    parser.add_argument("--per-burst", type=int, default=8)
    parser.add_argument("--output", default=str(RESULTS / "serve-abuse.json"))
    args = parser.parse_args()

    files = raise_file_limit(args.connections + 256)
    if files < args.connections + 64:
        raise SystemExit(f"only {files} open files allowed here (ulimit -n); need more")
    with tempfile.TemporaryDirectory() as scratch:
        model_dir = args.model_dir or tiny_model(Path(scratch))
        port = free_port()
        extra = ["--backend", args.backend, "--header-timeout", str(args.header_timeout),
                 "--body-timeout", str(args.body_timeout)]  # fmt: skip
        server = start_server(model_dir, port, extra)
        try:
            loris = asyncio.run(
                slow_loris(port, args.connections, args.header_timeout, args.body_timeout)
            )
            memory = asyncio.run(explain_bursts(port, server.pid, args.bursts, args.per_burst))
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)

    targets = {
        "latency_during_within_100ms_of_quiet": loris["during_p50_ms"]
        <= loris["quiet_p50_ms"] + LATENCY_TARGET_MS,
        "all_half_open_closed_within_deadline_plus_1s": loris["closed_within_deadline_plus_margin"]
        == args.connections,
        "rss_within_20pct_after_bursts": memory["rss_growth"] <= RSS_TARGET,
    }

    from rich.console import Console
    from rich.table import Table

    table = Table("measure", "value", "target", "met", title=f"bertsent serve {model_dir}")
    table.add_row("predict p50, quiet", f"{loris['quiet_p50_ms']:.1f} ms", "", "")
    table.add_row(
        f"predict p50 (max) with {args.connections} half-open",
        f"{loris['during_p50_ms']:.1f} ms ({loris['during_max_ms']:.1f})",
        f"p50 <= quiet + {LATENCY_TARGET_MS:.0f} ms",
        str(targets["latency_during_within_100ms_of_quiet"]),
    )
    table.add_row(
        "half-open closed in deadline + 1 s",
        f"{loris['closed_within_deadline_plus_margin']}/{args.connections} "
        f"(latest {loris['max_overshoot_s']:+.2f} s, 408s {loris['answered_408']})",
        f"all (headers {args.header_timeout:g} s, body {args.body_timeout:g} s)",
        str(targets["all_half_open_closed_within_deadline_plus_1s"]),
    )
    table.add_row(
        f"RSS after {args.bursts}x{args.per_burst} explanations",
        f"{memory['rss_after_warm_up_mb']:.0f} -> {memory['rss_after_each_burst_mb'][-1]:.0f} MB "
        f"({100 * memory['rss_growth']:+.1f}%)",
        f"<= +{100 * RSS_TARGET:.0f}%",
        str(targets["rss_within_20pct_after_bursts"]),
    )
    Console(width=160).print(table)
    print("RSS after each burst (MB):", [round(m) for m in memory["rss_after_each_burst_mb"]])
    record = {
        "command": "python benchmarks/serve_abuse.py " + " ".join(sys.argv[1:]),
        "model_dir": args.model_dir or "tiny random BERT built by the script",
        "settings": vars(args),
        "cpu_count": os.cpu_count(),
        "targets": {
            "latency_ms_over_quiet_p50": LATENCY_TARGET_MS,
            "close_margin_s": CLOSE_MARGIN_S,
            "rss_growth": RSS_TARGET,
        },
        "targets_met": targets,
        "slow_loris": loris,
        "explain_memory": memory,
    }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    save_results(Path(args.output), record)
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
