"""Score files of reviews in batches, in constant memory, resumably, writing the output atomically.

Scored chunks go to numbered part files in a work folder beside the output
(``<output>.partial``), each written atomically, after a ``progress.json`` that records
what they were scored from. A run killed at any moment can therefore continue with
``resume=True`` from the last complete part. Once every row is scored the parts are
merged inside the work folder and the result renamed to the output in one step, so a
kill never leaves a half-written output or a stray temporary file beside it.
"""

from __future__ import annotations

import csv
import itertools
import json
import logging
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from bertsent.atomic import atomic_directory, atomic_file
from bertsent.data.readers import Record, file_format, iter_records
from bertsent.errors import ConfigError, DataError
from bertsent.models.base import SentimentClassifier

logger = logging.getLogger(__name__)

MANIFEST = "progress.json"
# What a resumed run must share with the interrupted one, with the words for messages.
_SETTINGS = {
    "input": "input file",
    "input_size": "input size in bytes",
    "input_mtime_ns": "input modification time (ns)",
    "text_column": "text column",
    "chunk_size": "chunk size",
    "model": "model",
    "output_format": "output format",
}


class RowWriter(Protocol):
    def __call__(self, rows: list[dict[str, Any]]) -> None: ...


@contextmanager
def open_writer(path: Path, fmt: str) -> Iterator[RowWriter]:
    """A function that appends rows to ``path`` in ``fmt`` (csv, tsv, jsonl or parquet)."""
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        state: dict[str, Any] = {}

        def write_parquet(rows: list[dict[str, Any]]) -> None:
            table = pa.Table.from_pylist(rows, schema=state.get("schema"))
            if "writer" not in state:
                state["schema"] = table.schema
                state["writer"] = pq.ParquetWriter(path, table.schema)
            state["writer"].write_table(table)

        try:
            yield write_parquet
        finally:
            if "writer" in state:
                state["writer"].close()
        return
    with path.open("w", encoding="utf-8", newline="") as handle:
        if fmt == "jsonl":

            def write_jsonl(rows: list[dict[str, Any]]) -> None:
                handle.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)

            yield write_jsonl
            return
        writers: list[csv.DictWriter[str]] = []

        def write_csv(rows: list[dict[str, Any]]) -> None:
            if not writers:
                writers.append(
                    csv.DictWriter(
                        handle, fieldnames=list(rows[0]), delimiter="\t" if fmt == "tsv" else ","
                    )
                )
                writers[0].writeheader()
            writers[0].writerows(rows)

        yield write_csv


def predict_file(
    model: SentimentClassifier,
    input_path: str | Path,
    output_path: str | Path,
    *,
    text_column: str = "text",
    chunk_size: int = 1024,
    progress: bool = True,
    resume: bool = False,
    model_id: str | None = None,
) -> int:
    """Add ``label``, ``score`` and per-class scores to every row of ``input_path``.

    The input streams in chunks of ``chunk_size`` rows; the output (its format from its
    suffix) appears only when complete. jsonl rows get a ``scores`` object, csv and
    parquet rows one ``score_<label>`` column per class. Returns the number of rows.

    Args:
        resume: Continue the interrupted run whose work folder ``<output>.partial`` is
            left (or start afresh if there is none). Without it such a folder is an error,
            so that no scored rows are thrown away unasked.
        model_id: Names the model (e.g. its directory) so a resume with another model
            is refused rather than mixing the two models' scores.

    Raises:
        ConfigError: ``chunk_size`` is below 1, or a work folder is left and ``resume``
            is false.
        DataError: A bad input row (the work folder is then removed: the input must
            change, which voids it), or a resume whose settings or input differ.
    """
    if chunk_size < 1:
        raise ConfigError(f"chunk size must be at least 1, got {chunk_size}")
    source, target = Path(input_path), Path(output_path)
    in_format, out_format = file_format(source), file_format(target)
    if source.resolve() == target.resolve():
        raise DataError(
            f"{target}: output would overwrite the input", hint="choose another --output"
        )
    if not source.is_file():
        raise DataError(f"{source}: file not found")
    work = target.with_name(f"{target.name}.partial")
    stat = source.stat()
    settings = {
        "input": str(source.resolve()),
        "input_size": stat.st_size,
        "input_mtime_ns": stat.st_mtime_ns,
        "text_column": text_column,
        "chunk_size": chunk_size,
        "model": model_id,
        "output_format": out_format,
    }
    parts = _open_work_folder(work, settings, resume)
    from tqdm.auto import tqdm

    total = _count_rows(source, in_format) if progress else None
    records = iter_records(source, text_column, None, keep_row=True)
    try:
        # The parts hold the first len(parts) * chunk_size rows (the last part may be short).
        count = sum(1 for _ in itertools.islice(records, len(parts) * chunk_size))
        with tqdm(
            desc=f"scoring {source.name}",
            unit=" rows",
            total=total,
            initial=count,
            disable=not progress,
        ) as bar:
            while chunk := list(itertools.islice(records, chunk_size)):
                part = _part_path(work, len(parts), out_format)
                with atomic_file(part) as temporary, open_writer(temporary, out_format) as write:
                    write(_score(model, chunk, out_format))
                parts.append(part)
                count += len(chunk)
                bar.update(len(chunk))
    except DataError:
        shutil.rmtree(work, ignore_errors=True)
        raise
    except KeyboardInterrupt:
        logger.warning("interrupted: the rows scored so far are in %s; rerun with --resume", work)
        raise
    merged = work / f"merged.{out_format}"
    _merge_parts(parts, merged, out_format)
    os.replace(merged, target)
    shutil.rmtree(work)
    return count


def _part_path(work: Path, number: int, fmt: str) -> Path:
    return work / f"part-{number:06d}.{fmt}"


def _open_work_folder(work: Path, settings: dict[str, Any], resume: bool) -> list[Path]:
    """Check a left work folder against ``settings`` and list its parts, or make a new one.

    A new folder appears with its manifest in one step, so a folder never lacks one.
    """
    if not work.exists():
        with atomic_directory(work) as temporary:
            (temporary / MANIFEST).write_text(json.dumps(settings, indent=2), encoding="utf-8")
        return []
    start_over = f"delete {work} to start over"
    if not resume:
        raise ConfigError(
            f"{work}: an interrupted run of this output left its scored rows here",
            hint=f"pass --resume to continue, or {start_over}",
        )
    try:
        saved = json.loads((work / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(
            f"{work}: cannot resume, {MANIFEST} is unreadable ({exc})", hint=start_over
        ) from None
    differences = [
        f"{name} {saved.get(key)!r} -> {settings[key]!r}"
        for key, name in _SETTINGS.items()
        if saved.get(key) != settings[key]
    ]
    if differences:
        raise DataError(
            f"{work}: cannot resume, this run differs from the interrupted one: "
            + "; ".join(differences),
            hint=f"rerun with the same input and settings, or {start_over}",
        )
    parts: list[Path] = []
    while (part := _part_path(work, len(parts), settings["output_format"])).exists():
        parts.append(part)
    return parts


def _score(
    model: SentimentClassifier, chunk: list[Record], out_format: str
) -> list[dict[str, Any]]:
    """The chunk's input rows with the model's label and scores added."""
    rows = []
    scored = model.predict_scores([r.text for r in chunk], digits=6)
    for record, result in zip(chunk, scored, strict=True):
        row: dict[str, Any] = {**record.row, "label": result["label"], "score": result["score"]}
        if out_format == "jsonl":
            row["scores"] = result["scores"]
        else:
            row.update({f"score_{label}": v for label, v in result["scores"].items()})
        rows.append(row)
    return rows


def _count_rows(path: Path, fmt: str) -> int | None:
    """How many records ``path`` holds, for the progress bar's ETA (``None`` if unclear).

    One fast pass that mirrors the reader: blank lines do not count, and csv fields may
    hold newlines. Errors are left for the reader to report with their line.
    """
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(path).metadata.num_rows)
    if fmt == "jsonl":
        with path.open("rb") as handle:
            return sum(1 for line in handle if line.strip())
    with path.open(encoding="utf-8", errors="replace", newline="") as handle:
        try:
            rows = csv.reader(handle, delimiter="\t" if fmt == "tsv" else ",")
            return max(sum(1 for values in rows if values) - 1, 0)  # less the header
        except csv.Error:
            return None


def _merge_parts(parts: list[Path], path: Path, fmt: str) -> None:
    """Write the parts in order into ``path``, holding one part at a time."""
    if fmt == "parquet":
        _merge_parquet(parts, path)
        return
    with open_writer(path, fmt) as write:
        for part in parts:
            with part.open(encoding="utf-8", newline="") as handle:
                if fmt == "jsonl":
                    write([json.loads(line) for line in handle])
                else:
                    write(list(csv.DictReader(handle, delimiter="\t" if fmt == "tsv" else ",")))


def _merge_parquet(parts: list[Path], path: Path) -> None:
    """Concatenate parquet parts under one schema.

    Each part's types were inferred from its own rows, so a column that is all null in
    one part has type null there; the common schema widens such columns.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    schemas = [pq.read_schema(part) for part in parts]
    schema = pa.unify_schemas(schemas, promote_options="permissive") if parts else pa.schema([])
    with pq.ParquetWriter(path, schema) as writer:
        for part in parts:
            table = pq.read_table(part)
            columns = [
                table[field.name].cast(field.type)
                if field.name in table.column_names
                else pa.nulls(table.num_rows, field.type)
                for field in schema
            ]
            writer.write_table(pa.Table.from_arrays(columns, schema=schema))
