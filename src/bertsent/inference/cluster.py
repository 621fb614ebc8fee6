"""Score a corpus of shards on a Ray cluster: ``bertsent predict --engine ray``.

The unit of work is an input shard (a csv/tsv/jsonl/parquet file). The shards form a
Ray Dataset that a pool of actors maps over: each actor loads the model once, with our
inference engine and backend, streams its shard through ``predict --input`` itself and
writes ``OUTPUT/<shard name>.parquet`` atomically. So the output has exactly the rows
``predict --input SHARD --output X.parquet`` writes, a killed job leaves only whole
shards, and ``--resume`` scores the shards that have no output yet, or one older than
the shard. Ray restarts a dead actor and retries its shard, forever by default, so the
actors count the attempts: a shard whose worker died ``SHARD_ATTEMPTS`` times (killed
for memory, most often) is reported by name while the other shards finish. The atomic
write means a retried shard is never written twice; it continues from the chunks the
dead worker finished.

Scaling: shards are independent, so throughput grows with actors until the shared
storage or the driver's bookkeeping (one small record per shard) limits it; each actor
pays the model load once (about a second for the packaged model), not once per shard.
Within a shard, tokenisation and scoring run in the actor, and parquet writing too.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import logging
import os
import shutil
import signal
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bertsent.atomic import (
    atomic_directory,
    check_replaceable,
    left_temporaries,
    remove_path,
    write_text_atomic,
)
from bertsent.data.readers import SUPPORTED_SUFFIXES, column_names, file_format
from bertsent.errors import ConfigError, DataError
from bertsent.inference.files import work_folder

logger = logging.getLogger(__name__)

MANIFEST = "bertsent-scoring.json"  # marks a folder written by `predict --engine ray`
OUTPUT_SUFFIX = ".parquet"
SHARD_ATTEMPTS = 3  # workers that may die in one shard before it is reported as failed


@dataclass
class ScoringJob:
    """What every actor needs to score a shard (sent to each actor once)."""

    model_dir: str
    backend: str
    threads: int | None
    batch_size: int | None
    text_column: str
    prefix: str
    chunk_size: int
    output_dir: str
    strict: bool = False  # refuse a row whose aspect is not in its text (else warn)
    model_id: dict[str, Any] | None = None  # what a shard's left parts were scored with


def find_shards(spec: str) -> list[Path]:
    """The input shards: the data files in a folder, or the files a glob matches.

    Raises:
        DataError: nothing matches, a match is not a data file, or two shards share a
            name (their outputs would collide).
    """
    path = Path(spec)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in SUPPORTED_SUFFIXES)
    else:
        files = sorted(Path(p) for p in glob.glob(spec, recursive=True) if Path(p).is_file())
        others = [p for p in files if p.suffix.lower() not in SUPPORTED_SUFFIXES]
        if others:
            raise DataError(
                f"{others[0]}: not a {', '.join(SUPPORTED_SUFFIXES)} file (matched by {spec})",
                hint="narrow the glob to the data files, e.g. 'reviews/*.parquet'",
            )
    if not files:
        raise DataError(f"{spec}: no {', '.join(SUPPORTED_SUFFIXES)} files match")
    files = [file.resolve() for file in files]  # actors do not share our working folder
    names: dict[str, Path] = {}
    for file in files:
        if file.name in names:
            raise DataError(
                f"{file} and {names[file.name]}: two shards with one name; their outputs "
                "would collide",
                hint="score the folders separately, into separate --output folders",
            )
        names[file.name] = file
    return files


def check_same_columns(shards: Sequence[Path], text_column: str) -> list[str]:
    """The shards' shared columns; a shard with other columns is refused by name."""
    first = column_names(shards[0])
    if text_column not in first:
        raise DataError(f"{shards[0]}: no '{text_column}' column (it has {', '.join(first)})")
    for shard in shards[1:]:
        columns = column_names(shard)
        if sorted(columns) != sorted(first):
            raise DataError(
                f"{shard}: columns {columns} differ from {shards[0].name}'s {first}",
                hint="score shards of one layout in one job",
            )
    return first


def output_path(output_dir: Path, shard: Path) -> Path:
    return output_dir / f"{shard.name}{OUTPUT_SUFFIX}"


def running_marker(output_dir: Path, shard: Path) -> Path:
    """``.<shard>.running``: a line with the host and pid of each actor that began the
    shard; it goes when the shard is done, so each line left is a worker that died."""
    return output_dir / f".{shard.name}.running"


def begin_shard(output_dir: Path, shard: Path) -> int:
    """Mark the shard as begun by this process; returns how many workers died in it.

    Also removes the temporaries a dead worker left (one attempt of a shard runs at a
    time); the chunks it finished stay in the shard's work folder, to continue from.
    """
    marker = running_marker(output_dir, shard)
    deaths = len(marker.read_text(encoding="utf-8").splitlines()) if marker.is_file() else 0
    if deaths:
        scored = output_path(output_dir, shard)
        for stale in left_temporaries(scored) + left_temporaries(work_folder(scored)):
            remove_path(stale)  # a file, or a work folder being made
    with marker.open("a", encoding="utf-8") as handle:
        handle.write(f"{socket.gethostname()} {os.getpid()}\n")
    return deaths


def score_shard(model: Any, job: ScoringJob, shard: Path) -> int:
    """Score one shard into its parquet output; returns its row count.

    This is ``predict --input SHARD --output X.parquet`` itself (chunks scored into
    parts, merged under one schema, published atomically), so the rows are those; the
    parts a dead worker left are continued when the shard, model and settings are the
    same, and dropped (the shard scored afresh) when not: a smaller ``--chunk-size``
    after a worker ran out of memory, or a shard regenerated since.
    """
    from bertsent.inference.files import StaleWorkFolder, predict_file

    target = output_path(Path(job.output_dir), shard)

    def score() -> int:
        return predict_file(
            model,
            shard,
            target,
            text_column=job.text_column,
            chunk_size=job.chunk_size,
            progress=False,
            resume=True,
            model_id=job.model_id,
            prefix=job.prefix,
            overwrite=True,
            strict=job.strict,
        )

    try:
        return score()
    except StaleWorkFolder as stale:
        logger.warning("%s; scoring %s afresh", stale.message, shard.name)
        shutil.rmtree(work_folder(target), ignore_errors=True)
        return score()


def pending_shards(shards: Sequence[Path], output_dir: Path) -> list[Path]:
    """The shards without an up-to-date output: none yet, or one older than the shard
    (changed since it was scored), as ``make`` decides what to rebuild."""
    pending = []
    for shard in shards:
        scored = output_path(output_dir, shard)
        if not scored.is_file() or scored.stat().st_mtime_ns < shard.stat().st_mtime_ns:
            pending.append(shard)
    return pending


class ShardScorer:
    """A Ray actor: the model loaded once, then one shard per call."""

    def __init__(self, job: ScoringJob) -> None:
        from bertsent.inference.loading import load_for_inference

        self.job = job
        self.model = load_for_inference(
            job.model_dir, backend=job.backend, threads=job.threads, batch_size=job.batch_size
        )

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[Any]]:
        results: dict[str, list[Any]] = {"shard": [], "rows": [], "error": []}
        for name in batch["shard"]:
            rows, error = 0, ""
            output_dir, shard = Path(self.job.output_dir), Path(name)
            deaths = begin_shard(output_dir, shard)
            try:
                if deaths >= SHARD_ATTEMPTS:
                    error = (
                        f"its worker died {deaths} times while scoring it (killed; most "
                        "often for memory, by Ray's memory monitor or the kernel)"
                    )
                else:
                    rows = score_shard(self.model, self.job, shard)
            except MemoryError:
                error = "out of memory"
            except DataError as exc:
                error = exc.message
            except Exception as exc:  # reported with the shard's name; the others go on
                error = f"{type(exc).__name__}: {exc}"
            running_marker(output_dir, shard).unlink(missing_ok=True)
            results["shard"].append(str(name))
            results["rows"].append(rows)
            results["error"].append(error)
        return results


def connect(address: str | None) -> None:
    """Join the cluster at ``address`` (``auto``: the one ``ray start`` runs here;
    ``host:port`` or ``ray://host:port``), or start a local one without an address.

    Raises:
        ConfigError: the address is unreachable or no cluster runs there.
    """
    import ray

    if address not in (None, "auto"):
        host, _, port = address.removeprefix("ray://").rpartition(":")
        try:
            socket.create_connection((host or "127.0.0.1", int(port)), timeout=5).close()
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"cannot reach the Ray cluster at {address} ({exc})",
                hint="check the address (ray start --head prints it), or leave --address "
                "out to run on this machine",
            ) from None
    try:
        ray.init(
            address=address,
            logging_level=logging.ERROR,
            log_to_driver=False,
            include_dashboard=False,
            ignore_reinit_error=True,
        )
    except ConnectionError as exc:
        raise ConfigError(
            f"no Ray cluster at {address}: {exc}".splitlines()[0],
            hint="start one with `ray start --head`, or leave --address out",
        ) from None


def actor_resources(workers: int | None) -> tuple[int, float, float]:
    """Actors, CPUs and GPUs per actor: by default one actor per GPU where there are
    GPUs, else one per two CPUs of the cluster (two threads each); a chosen number of
    actors shares the CPUs (at most two each)."""
    import ray

    resources = ray.cluster_resources()
    gpus, cpus = int(resources.get("GPU", 0)), float(resources.get("CPU", 1))
    if gpus:
        return workers or gpus, 0.0, 1.0
    workers = workers or max(1, int(cpus // 2))
    return workers, min(2.0, max(cpus / workers, 0.5)), 0.0


@contextmanager
def interrupt_kept() -> Iterator[threading.Event]:
    """An event set by Ctrl-C, which still raises KeyboardInterrupt as usual.

    Python raises the interrupt in whatever the main thread runs; inside one of Ray's
    ``__del__`` methods it is printed and dropped, and the job ran on to exit 0 (seen
    in CI). The event lets the scoring loop raise it again at the next shard, and the
    block raises it on leaving when no shard came after it.
    """
    interrupted = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield interrupted
        return

    def on_interrupt(signum: int, frame: object) -> None:
        interrupted.set()
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        yield interrupted
    finally:
        signal.signal(signal.SIGINT, previous)
    if interrupted.is_set():  # dropped after the last shard: the loop never saw it
        raise KeyboardInterrupt


def score_corpus(
    job: ScoringJob,
    input_spec: str,
    *,
    model_id: dict[str, Any],
    address: str | None = None,
    num_workers: int | None = None,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Score every shard of ``input_spec`` into ``job.output_dir`` with a Ray actor pool.

    Returns the rows and shards scored now, those kept from an interrupted run, and the
    rows/s. Finished shards stay when a shard fails; the error names the shard.

    Raises:
        DataError: no shards, shards of different layouts, a bad row or a failed
            shard (naming it); a resume whose model or settings differ.
        ConfigError: an unreachable cluster, or a left output without ``resume``.
    """
    from tqdm.auto import tqdm

    shards = find_shards(input_spec)
    check_same_columns(shards, job.text_column)
    output = Path(job.output_dir)
    settings = {
        "input": str(Path(input_spec).resolve()),
        "model": model_id,
        "text_column": job.text_column,
        "prefix": job.prefix,
        "backend": job.backend,
    }
    created = not output.exists()
    _open_output(output, settings, resume, overwrite)
    job = dataclasses.replace(job, model_id=model_id)
    pending = pending_shards(shards, output)
    kept = len(shards) - len(pending)
    if kept:
        logger.info("%d of %d shards already scored in %s: skipped", kept, len(shards), output)
    if not pending:
        return {"rows": 0, "shards": 0, "kept_shards": kept, "rows_per_second": 0.0}

    import ray

    from bertsent.inference.files import count_rows

    try:
        connect(address)
    except ConfigError:
        if created:  # nothing was scored: leave no folder that asks for --resume
            shutil.rmtree(output, ignore_errors=True)
        raise
    try:
        workers, cpus, gpus = actor_resources(num_workers)
        if gpus == 0 and job.threads is None:
            job = dataclasses.replace(job, threads=max(1, int(cpus)))
        ray.data.DataContext.get_current().enable_progress_bars = False  # ours is enough
        total = sum(count_rows(s, file_format(s)) or 0 for s in pending)
        shard_table = ray.data.from_items(
            [{"shard": str(s)} for s in pending], override_num_blocks=len(pending)
        )
        scored = shard_table.map_batches(
            ShardScorer,
            fn_constructor_args=(job,),
            batch_size=1,
            compute=ray.data.ActorPoolStrategy(size=workers),
            num_cpus=cpus,
            num_gpus=gpus,
        )
        logger.info("scoring %d shards with %d Ray workers", len(pending), workers)
        rows, done, failures, started = 0, kept, [], time.perf_counter()
        with (
            tqdm(total=total, unit=" rows", desc="scoring", disable=not progress) as bar,
            interrupt_kept() as interrupted,
        ):
            for result in scored.iter_rows():
                if interrupted.is_set():  # a Ctrl-C raised where Python ignores exceptions
                    raise KeyboardInterrupt
                if result["error"]:
                    failures.append(f"{result['shard']}: {result['error']}")
                    continue
                rows, done = rows + int(result["rows"]), done + 1
                bar.update(int(result["rows"]))
                bar.set_postfix(shards=f"{done}/{len(shards)}")
        seconds = time.perf_counter() - started
        unreported = len(pending) - (done - kept) - len(failures)
        if unreported:  # a result stream that ends short is never reported as success
            raise DataError(
                f"the Ray job stopped with {unreported} of {len(pending)} shards not scored",
                hint=f"the finished shards are kept in {output}; rerun with --resume",
            )
    except ray.exceptions.RayError as exc:
        in_flight = sorted(p.name[1 : -len(".running")] for p in output.glob(".*.running"))
        during = f" while scoring {', '.join(in_flight)}" if in_flight else ""
        raise DataError(
            f"the Ray job stopped{during}: {str(exc).splitlines()[0]}",
            hint=f"the finished shards are kept in {output}; rerun with --resume (a "
            "worker out of memory: a smaller --batch-size, or more memory per worker)",
        ) from None
    finally:
        ray.shutdown()
    if failures:
        raise DataError(
            f"{len(failures)} shard(s) failed: " + "; ".join(failures),
            hint=f"the finished shards are kept in {output}; fix them (out of memory: a "
            "smaller --batch-size or --chunk-size, or more memory per worker) and rerun "
            "with --resume",
        )
    return {
        "rows": rows,
        "shards": len(pending),
        "kept_shards": kept,
        "workers": workers,
        "rows_per_second": round(rows / max(seconds, 1e-9), 1),
    }


def _open_output(output: Path, settings: dict[str, Any], resume: bool, overwrite: bool) -> None:
    """Make the output folder with its manifest, or check a left one against ``settings``.

    Only a folder this command wrote is continued or replaced; a user's folder never.
    """
    check_replaceable(output, MANIFEST, "folder of `predict --engine ray` output")
    if output.exists() and not overwrite:
        if not resume:
            raise ConfigError(
                f"{output}: holds the shards of an earlier scoring run",
                hint="pass --resume to score only the missing shards, or --overwrite to "
                "score everything again",
            )
        saved = json.loads((output / MANIFEST).read_text(encoding="utf-8"))
        changed = [  # a manifest of an earlier bertsent records no input: not held against it
            key
            for key in settings
            if saved.get(key) != settings[key] and (key in saved or key != "input")
        ]
        if changed:
            raise DataError(
                f"{output}: cannot resume, the {' and '.join(changed)} differ from the "
                "interrupted run's",
                hint="rerun with the same model and settings, or --overwrite",
            )
        for stray in [*output.glob(".*.tmp"), *output.glob(".*.running")]:
            remove_path(stray)  # a shard's write cut short by the kill
        if saved != settings:  # an earlier bertsent's manifest: the input recorded from now on
            write_text_atomic(output / MANIFEST, json.dumps(settings, indent=2))
        return
    with atomic_directory(output, MANIFEST, overwrite=True) as temporary:
        (temporary / MANIFEST).write_text(json.dumps(settings, indent=2), encoding="utf-8")
