"""Load on the real HTTP service: 64 concurrent clients for 30 s against ``bertsent serve``.

First measures the offline engine (same model, backend and threads, in this process) on
the model's test reviews; then starts ``bertsent serve`` on a free loopback port and
runs N clients, each sending one review per request on its own keep-alive connection
and the next as soon as the answer arrives. The clients speak plain HTTP/1.1 over
asyncio streams, so the load generator costs little of the two cores it shares with
the server. Reports requests/s, p50/p99 latency, errors (any non-200 or broken
connection) and throughput as a fraction of the offline engine's. Targets: zero errors
and at least 70%. Prints a table and writes benchmarks/results/serve-load.json.

    python benchmarks/serve_load.py runs/rt-model --backend onnx-int8
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

from bertsent.data import load_dataset
from bertsent.encoders.engine import cpu_threads
from bertsent.models import load
from results_file import save_results

RESULTS = Path(__file__).parent / "results"
THROUGHPUT_TARGET = 0.70


def offline_rate(model_dir: str, backend: str, texts: list[str], threads: int) -> float:
    """Reviews/s of the engine alone over ``texts`` (best of 3)."""
    import torch

    torch.set_num_threads(threads)
    model = load(model_dir, backend=backend, threads=threads)
    model.predict_proba(texts[:64])
    best = 0.0
    for _ in range(3):
        started = time.perf_counter()
        model.predict_proba(texts)
        best = max(best, len(texts) / (time.perf_counter() - started))
    return best


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(model_dir: str, port: int, extra: list[str]) -> subprocess.Popen[bytes]:
    """``bertsent serve`` in a subprocess, returned once /readyz answers 200."""
    command = [sys.executable, "-m", "bertsent", "-q", "serve", model_dir,
               "--port", str(port), *extra]  # fmt: skip
    process = subprocess.Popen(command)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as reply:
                if reply.status == 200:
                    return process
        except OSError:
            time.sleep(0.3)
    process.kill()
    raise SystemExit("server did not become ready")


async def client(
    port: int, bodies: list[bytes], stop_at: float, latencies: list[float], errors: list[str]
) -> None:
    """One keep-alive connection sending requests back to back until ``stop_at``."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    index = 0
    try:
        while time.perf_counter() < stop_at:
            body = bodies[index % len(bodies)]
            index += 1
            request = (
                b"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: application/json\r\nContent-Length: "
                + str(len(body)).encode() + b"\r\n\r\n" + body
            )  # fmt: skip
            started = time.perf_counter()
            writer.write(request)
            status_line = await reader.readline()
            if not status_line:  # the server closed the connection: no more answers here
                errors.append("closed")
                break
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            status = status_line.split(b" ")[1]
            if status != b"200":  # a shed or failed request is no served one
                errors.append(status.decode())
                continue
            latencies.append(time.perf_counter() - started)
    except (OSError, asyncio.IncompleteReadError) as error:
        errors.append(type(error).__name__)
    finally:
        writer.close()


def milliseconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


async def drive(port: int, texts: list[str], clients: int, seconds: float) -> dict[str, Any]:
    bodies = [json.dumps({"texts": [text]}).encode() for text in texts]
    latencies: list[float] = []
    errors: list[str] = []
    started = time.perf_counter()
    stop_at = started + seconds
    # each client its own reviews, dealt round the list: more clients than reviews (the
    # warm-up's 200) would leave some with none
    shares = [
        bodies[i % len(bodies) :: clients] or [bodies[i % len(bodies)]] for i in range(clients)
    ]
    await asyncio.gather(*(client(port, share, stop_at, latencies, errors) for share in shares))
    elapsed = time.perf_counter() - started
    ms = np.asarray(latencies) * 1000
    return {
        "requests": len(latencies), "seconds": elapsed, "requests_per_s": len(latencies) / elapsed,
        # none answered (all shed, or the server gone): no latency to report
        "p50_ms": float(np.percentile(ms, 50)) if len(ms) else None,
        "p99_ms": float(np.percentile(ms, 99)) if len(ms) else None,
        "errors": len(errors), "error_kinds": sorted(set(errors)),
    }  # fmt: skip


def scrape_batches(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        lines = reply.read().decode().splitlines()
    values = {
        line.split(" ")[0]: float(line.split(" ")[1])
        for line in lines
        if line.startswith(("bertsent_batch_size_sum", "bertsent_batch_size_count"))
    }
    count = values.get("bertsent_batch_size_count", 0.0)
    return {
        "batches": count,
        "mean_batch_size": values.get("bertsent_batch_size_sum", 0.0) / max(count, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model_dir")
    parser.add_argument("--backend", default="onnx-int8")
    parser.add_argument("--data", default="rotten-tomatoes")
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--max-batch-size", type=int, default=64)
    parser.add_argument("--max-wait-ms", type=float, default=2.0)
    parser.add_argument("--output", default=str(RESULTS / "serve-load.json"))
    args = parser.parse_args()

    threads = cpu_threads()
    texts = list(load_dataset(args.data).split("test").texts)
    offline = offline_rate(args.model_dir, args.backend, texts, threads)
    print(f"offline engine ({args.backend}, {threads} threads): {offline:.0f} reviews/s")
    port = free_port()
    extra = ["--max-batch-size", str(args.max_batch_size), "--max-wait-ms", str(args.max_wait_ms)]
    server = start_server(args.model_dir, port, ["--backend", args.backend, "--no-explain", *extra])
    try:
        asyncio.run(drive(port, texts[:200], args.clients, 3.0))  # warm-up
        before = scrape_batches(port)
        load_result = asyncio.run(drive(port, texts, args.clients, args.seconds))
        after = scrape_batches(port)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    batches = after["batches"] - before["batches"]
    load_result["mean_batch_size"] = load_result["requests"] / max(batches, 1)
    load_result["offline_reviews_per_s"] = offline
    load_result["fraction_of_offline"] = load_result["requests_per_s"] / offline
    load_result["targets_met"] = {
        "zero_errors": load_result["errors"] == 0,
        "throughput_70pct_of_offline": load_result["fraction_of_offline"] >= THROUGHPUT_TARGET,
    }

    from rich.console import Console
    from rich.table import Table

    table = Table("clients", "seconds", "requests", "requests/s", "p50 ms", "p99 ms", "errors",
                  "mean batch", "offline /s", "of offline",
                  title=f"bertsent serve {args.model_dir} --backend {args.backend}")  # fmt: skip
    table.add_row(
        str(args.clients), f"{load_result['seconds']:.1f}", str(load_result["requests"]),
        f"{load_result['requests_per_s']:.0f}", milliseconds(load_result["p50_ms"]),
        milliseconds(load_result["p99_ms"]), str(load_result["errors"]),
        f"{load_result['mean_batch_size']:.1f}", f"{offline:.0f}",
        f"{100 * load_result['fraction_of_offline']:.0f}%",
    )  # fmt: skip
    Console(width=160).print(table)
    print(load_result["targets_met"])
    record = {
        "command": "python benchmarks/serve_load.py " + " ".join(sys.argv[1:]),
        "settings": vars(args), "threads": threads, "cpu_count": os.cpu_count(), **load_result,
    }  # fmt: skip
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    save_results(Path(args.output), record)
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
