"""Score files of reviews in batches, in constant memory, resumably, writing the output atomically.

Scored chunks go to numbered part files in a work folder beside the output
(``<output>.partial``), each written atomically, after a ``progress.json`` that records
what they were scored from. A run killed at any moment can therefore continue with
``resume=True`` from the last complete part. Once every row is scored the parts are
merged inside the work folder and the result renamed to the output in one step, so a
kill never leaves a half-written output or a stray temporary file beside it.

Nothing the user has is replaced: an existing output file only with ``overwrite``, and
never an input column (the new columns can take a ``prefix`` instead).
"""

from __future__ import annotations

import base64
import csv
import datetime
import decimal
import itertools
import json
import logging
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from bertsent.atomic import (
    atomic_directory,
    atomic_file,
    check_file_replaceable,
    flush_to_disk,
    publish_file,
)
from bertsent.data.readers import (
    Record,
    allow_long_csv_fields,
    column_names,
    file_format,
    iter_records,
)
from bertsent.data.tasks import ASPECT_COLUMN, aspect_missing
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
    "prefix": "column prefix",
}
# Files whose bytes decide a model's scores, hashed to recognise the model on --resume.
WEIGHT_FILES = ("*.safetensors",)  # BERT, LSTM and the baselines' arrays alike


class StaleWorkFolder(DataError):
    """A left work folder that cannot be continued: its run differs from this one."""


class RowWriter(Protocol):
    def __call__(self, rows: list[dict[str, Any]]) -> None: ...


def json_value(value: Any) -> Any:
    """What JSON writes for a value a parquet column can hold and JSON cannot: dates and
    times in ISO 8601, decimals as their digits, bytes in base64."""
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


@contextmanager
def open_writer(path: Path, fmt: str) -> Iterator[RowWriter]:
    """A function that appends rows to ``path`` in ``fmt`` (csv, tsv, jsonl or parquet).

    Parquet fixes its types from the first rows written: the parts of a scored file are
    written once each, and merged under their common schema.
    """
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        opened: list[Any] = []  # opened with the first rows' schema, which later ones take

        def write_parquet(rows: list[dict[str, Any]]) -> None:
            table = pa.Table.from_pylist(rows, schema=opened[0].schema if opened else None)
            if not opened:
                opened.append(pq.ParquetWriter(path, table.schema))
            opened[0].write_table(table)

        try:
            yield write_parquet
        finally:
            for writer in opened:
                writer.close()
        return
    with path.open("w", encoding="utf-8", newline="") as handle:
        if fmt == "jsonl":

            def write_jsonl(rows: list[dict[str, Any]]) -> None:
                handle.writelines(
                    json.dumps(row, ensure_ascii=False, default=json_value) + "\n" for row in rows
                )

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
    model_id: dict[str, Any] | None = None,
    prefix: str = "",
    overwrite: bool = False,
    strict: bool = False,
) -> int:
    """Add ``label``, ``score`` and per-class scores to every row of ``input_path``.

    The input streams in chunks of ``chunk_size`` rows; the output (its format from its
    suffix) appears only when complete. jsonl rows get a ``scores`` object, csv and
    parquet rows one ``score_<label>`` column per class. An input without rows gives
    an output without rows that still has its header (csv, tsv, parquet). Returns the
    number of rows.

    Args:
        resume: Continue the interrupted run whose work folder ``<output>.partial`` is
            left (or start afresh if there is none). Without it such a folder is an error,
            so that no scored rows are thrown away unasked.
        model_id: The model as :func:`model_fingerprint` describes it, so a resume
            with another model (even one saved at the same path) is refused rather
            than mixing the two models' scores.
        prefix: Put before the new columns' names (``pred_`` gives ``pred_label``...),
            for inputs that already have a ``label`` or ``score`` column.
        overwrite: Replace an existing output file (otherwise refused).
        strict: Refuse a row whose aspect does not occur in its text (otherwise warned
            about), for an aspect model.

    Raises:
        ConfigError: ``chunk_size`` is below 1, or a work folder is left and ``resume``
            is false.
        DataError: A bad input row (the work folder is then removed: the input must
            change, which voids it), an input column the new columns would replace,
            or a resume whose settings, input or model differ.
        OutputExistsError: ``output_path`` exists and ``overwrite`` is false.
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
        raise DataError(
            f"{source}: " + ("a folder, not a file" if source.is_dir() else "file not found")
        )
    check_file_replaceable(target, overwrite=overwrite)
    # Everything that can be refused is refused before the work folder appears.
    allow_long_csv_fields()
    input_columns = column_names(source, in_format)
    new_columns = output_columns(model.labels_, out_format, prefix, model.task_.output_names)
    refuse_clashes(str(source), input_columns, new_columns)
    refuse_unread_aspects(str(source), input_columns, model.task_)
    work = work_folder(target)
    stat = source.stat()
    settings = {
        "input": str(source.resolve()),
        "input_size": stat.st_size,
        "input_mtime_ns": stat.st_mtime_ns,
        "text_column": text_column,
        "chunk_size": chunk_size,
        "model": model_id,
        "output_format": out_format,
        "prefix": prefix,
    }
    parts = _open_work_folder(work, settings, resume)
    from tqdm.auto import tqdm

    records = iter_records(source, text_column, None, keep_row=True)
    merged = work / f"merged.{out_format}"
    schema: Any = None  # the parquet parts' common schema so far
    try:
        total = count_rows(source, in_format) if progress else None
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
                check_aspects_occur(model.task_, chunk, strict)
                rows = scored_rows(model, chunk, out_format, prefix, new_columns, input_columns)
                with one_type_per_column(f"{chunk[0].where} to {chunk[-1].where}"):
                    with atomic_file(part) as temporary, open_writer(temporary, out_format) as out:
                        out(rows)
                    if out_format == "parquet":  # a clash with earlier chunks: named now,
                        schema = _unified_schema([*parts, part], schema)  # not at the merge
                parts.append(part)
                count += len(chunk)
                bar.update(len(chunk))
        if parts:
            with one_type_per_column(str(source)):
                _merge_parts(parts, merged, out_format, numeric=new_columns[1:])
        else:
            write_header_only(merged, out_format, source, input_columns, new_columns)
    except DataError:
        shutil.rmtree(work, ignore_errors=True)
        raise
    except BaseException as error:
        if not parts:  # nothing scored to resume from: leave nothing behind
            shutil.rmtree(work, ignore_errors=True)
        elif isinstance(error, KeyboardInterrupt):
            logger.warning(
                "interrupted: the rows scored so far are in %s; rerun with --resume", work
            )
        raise
    flush_to_disk(merged)  # on the disk before it replaces an earlier output
    publish_file(merged, target, overwrite=overwrite)
    flush_to_disk(target.parent)  # and its name, before the parts to resume from go
    shutil.rmtree(work)
    return count


def work_folder(output: Path) -> Path:
    """Where the scored parts of ``output`` wait until every row is scored."""
    return output.with_name(f"{output.name}.partial")


def output_columns(
    labels: list[str], out_format: str, prefix: str = "", extra: Sequence[str] = ()
) -> list[str]:
    """The columns scoring adds, in order: label, score, the per-class scores, then the
    task's own outputs (``extra``, e.g. a fine-grained model's intensity)."""
    ours = [f"{prefix}{name}" for name in extra]
    if out_format == "jsonl":
        return [f"{prefix}label", f"{prefix}score", f"{prefix}scores", *ours]
    scores = [f"{prefix}score_{label}" for label in labels]
    return [f"{prefix}label", f"{prefix}score", *scores, *ours]


def model_fingerprint(model_dir: str | Path, model: SentimentClassifier) -> dict[str, Any]:
    """What identifies ``model`` (loaded from ``model_dir``) when a run is resumed.

    A path says nothing once another model is saved there; the sha256 of the files its
    scores come from does: the ONNX graph for the ONNX backends (hashed and checked
    when it was opened), else the weights in the folder (hashed here, once per run), or
    for a model without weights (the LLM method) its settings files.
    The backend counts too: fp32 and INT8 scores differ.
    """
    from bertsent.encoders.exports import file_sha256

    folder = Path(model_dir).resolve()
    backend = getattr(model, "backend", None)
    export = getattr(model, "export_", None)
    if backend and backend.startswith("onnx") and export:
        weights = {f"onnx/{export['file']}": str(export["sha256"])}
    else:
        files = sorted({path for pattern in WEIGHT_FILES for path in folder.glob(pattern)})
        if not files:  # a model of settings alone (an LLM's server, model and prompt)
            files = sorted(folder.glob("*.json"))
        weights = {path.name: file_sha256(path) for path in files if path.is_file()}
    return {"path": str(folder), "method": model.method, "backend": backend, "weights": weights}


def refuse_clashes(where: str, columns: Any, new_columns: list[str]) -> None:
    """Refuse input columns that the new columns would replace (e.g. gold labels)."""
    clashes = [name for name in new_columns if name in columns]
    if not clashes:
        return
    names = ", ".join(f"'{name}'" for name in clashes)
    raise DataError(
        f"{where}: the input already has column{'s' if len(clashes) > 1 else ''} {names}, "
        "which the predictions would replace",
        hint="name the new columns with --prefix, e.g. --prefix pred_ writes pred_label, "
        "pred_score, ...",
    )


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
        raise StaleWorkFolder(
            f"{work}: cannot resume, {MANIFEST} is unreadable ({exc})", hint=start_over
        ) from None
    differences = [
        f"{name} {saved.get(key)!r} -> {settings[key]!r}"
        for key, name in _SETTINGS.items()
        if key != "model" and saved.get(key) != settings[key]
    ]
    if model_change := _model_change(saved.get("model"), settings["model"]):
        differences.insert(0, model_change)
    if differences:
        raise StaleWorkFolder(
            f"{work}: cannot resume, this run differs from the interrupted one: "
            + "; ".join(differences),
            hint=f"rerun with the same input, model and settings, or {start_over}",
        )
    parts: list[Path] = []
    while (part := _part_path(work, len(parts), settings["output_format"])).exists():
        parts.append(part)
    return parts


def _model_change(saved: Any, current: Any) -> str | None:
    """How the model differs from the interrupted run's, by what decides its scores.

    Only the method, backend and weights count: a model moved to another path scores
    the same; another model saved at the same path does not.
    """
    if not isinstance(saved, dict) or not isinstance(current, dict):  # unnamed or older runs
        if saved == current:
            return None
        names = [m.get("path") if isinstance(m, dict) else m for m in (saved, current)]
        return f"model {names[0]!r} -> {names[1]!r}"
    changes = [
        f"{key} {saved.get(key)} -> {current.get(key)}"
        for key in ("method", "backend")
        if saved.get(key) != current.get(key)
    ]
    old, new = saved.get("weights") or {}, current.get("weights") or {}
    changes += [
        f"{name} sha256 {old.get(name, 'none')[:12]} -> {new.get(name, 'none')[:12]}"
        for name in sorted(old.keys() | new.keys())
        if old.get(name) != new.get(name)
    ]
    if not changes:
        return None
    same_place = saved.get("path") == current.get("path")
    place = "was replaced" if same_place else f"-> {current.get('path')}"
    return f"model {saved.get('path')} {place} ({', '.join(changes)})"


def refuse_unread_aspects(where: str, input_columns: list[str], task: Any) -> None:
    """Refuse an ``aspect`` column given to a model that reads the text alone: its
    scores would silently ignore the aspect each row names.

    Raises:
        DataError: naming ``where`` (the file) and the model's task.
    """
    if ASPECT_COLUMN in input_columns and ASPECT_COLUMN not in task.input_names:
        raise DataError(
            f"{where}: column '{ASPECT_COLUMN}' names an aspect per row, but this "
            f"{task.name} model judges the text alone",
            hint=f"score the file with an aspect model, or rename the '{ASPECT_COLUMN}' "
            "column to keep it unread",
        )


def check_aspects_occur(task: Any, chunk: list[Record], strict: bool) -> None:
    """For an aspect model: warn about rows whose aspect is not in their text, or refuse
    the first of them when ``strict`` (as ``predict --aspect ... --strict`` does)."""
    if ASPECT_COLUMN not in task.input_names:
        return
    missing = [
        record
        for record in chunk
        if isinstance(aspect := record.row.get(ASPECT_COLUMN), str)
        and aspect_missing(record.text, aspect)
    ]
    if not missing:
        return
    first = missing[0]
    if strict:
        raise DataError(
            f"{first.where}: aspect '{first.row[ASPECT_COLUMN]}' does not occur in the text"
        )
    logger.warning(
        "%d row(s) name an aspect their text does not contain (first: %s, '%s')",
        len(missing),
        first.where,
        first.row[ASPECT_COLUMN],
    )


def scored_rows(
    model: SentimentClassifier,
    chunk: list[Record],
    out_format: str,
    prefix: str,
    new_columns: list[str],
    input_columns: list[str],
) -> list[dict[str, Any]]:
    """The chunk's input rows with the model's label and scores added.

    Raises:
        DataError: a row has a column the new columns would replace, or, for a table
            output (csv, tsv, parquet), one that the input's first row lacks: a table
            takes its columns from that row, and would drop the value or fail.
    """
    for record in chunk:  # jsonl rows may add columns after the first
        refuse_clashes(record.where, record.row, new_columns)
        if out_format != "jsonl" and (extra := [c for c in record.row if c not in input_columns]):
            raise DataError(
                f"{record.where}: column{'s' if len(extra) > 1 else ''} "
                f"{', '.join(repr(c) for c in extra)} not in the first row, which gives the "
                f"{out_format} output its columns",
                hint="write jsonl output (each row keeps its own fields), or give every row "
                "the same fields",
            )
    rows = []
    inputs = [model.task_.model_input(r.text, r.row, r.where) for r in chunk]
    scored = model.predict_scores(inputs, digits=6)
    for record, result in zip(chunk, scored, strict=True):
        # a table row has every input column, in order, even one a jsonl row leaves out
        fields = (
            record.row
            if out_format == "jsonl"
            else {name: record.row.get(name) for name in input_columns}
        )
        row: dict[str, Any] = {
            **fields,
            f"{prefix}label": result["label"],
            f"{prefix}score": result["score"],
        }
        if out_format == "jsonl":
            row[f"{prefix}scores"] = result["scores"]
        else:
            row.update({f"{prefix}score_{label}": v for label, v in result["scores"].items()})
        row.update({f"{prefix}{name}": result[name] for name in model.task_.output_names})
        rows.append(row)
    return rows


@contextmanager
def one_type_per_column(where: str) -> Iterator[None]:
    """Turn a parquet column whose values differ in type (1, then "b7") into a DataError
    naming the rows, instead of pyarrow's traceback."""
    import pyarrow as pa

    try:
        yield
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise DataError(
            f"{where}: a column holds values of different types, which a parquet column "
            f"cannot ({str(exc).splitlines()[0]})",
            hint="write csv or jsonl output, or give the column one type in every row",
        ) from None


def count_rows(path: Path, fmt: str) -> int | None:
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


def _merge_parts(parts: list[Path], path: Path, fmt: str, numeric: Sequence[str] = ()) -> None:
    """Write the parts in order into ``path``, holding one part at a time.

    ``numeric`` names the columns that are doubles even where every row holds a null
    (the scores and intensity of a file whose every review abstained).
    """
    if fmt == "parquet":
        _merge_parquet(parts, path, numeric)
        return
    with open_writer(path, fmt) as write:
        for part in parts:
            with part.open(encoding="utf-8", newline="") as handle:
                if fmt == "jsonl":
                    write([json.loads(line) for line in handle])
                else:
                    write(list(csv.DictReader(handle, delimiter="\t" if fmt == "tsv" else ",")))


def write_header_only(
    path: Path, fmt: str, source: Path, input_columns: list[str], new_columns: list[str]
) -> None:
    """An output without rows that still names its columns, as a header-only input does.

    jsonl has no header: an empty file is its empty table. Parquet columns keep the
    input's types (csv values are text); the label is text and the scores doubles.
    """
    columns = [*input_columns, *new_columns]
    if fmt == "jsonl":
        path.write_text("", encoding="utf-8")
    elif fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        types = {name: pa.string() for name in columns}
        if file_format(source) == "parquet":
            types.update({field.name: field.type for field in pq.read_schema(source)})
        types.update({name: pa.float64() for name in new_columns[1:]})
        pq.write_table(pa.schema([(name, types[name]) for name in columns]).empty_table(), path)
    else:
        with path.open("w", encoding="utf-8", newline="") as handle:
            csv.writer(handle, delimiter="\t" if fmt == "tsv" else ",").writerow(columns)


def _unified_schema(parts: list[Path], known: Any = None) -> Any:
    """The common schema of parquet ``parts`` (``known``: that of all but the last).

    Raises:
        pyarrow.ArrowTypeError: a column's types cannot be unified (1, then "b7").
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    schemas = [known] if known is not None else [pq.read_schema(p) for p in parts[:-1]]
    return pa.unify_schemas([*schemas, pq.read_schema(parts[-1])], promote_options="permissive")


def _merge_parquet(parts: list[Path], path: Path, numeric: Sequence[str]) -> None:
    """Concatenate parquet parts under one schema.

    Each part's types were inferred from its own rows, so a column that is all null in
    one part has type null there; the common schema widens such columns, and makes the
    ``numeric`` ones doubles where every part had them null.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = _unified_schema(parts) if parts else pa.schema([])
    schema = pa.schema(
        [
            field.with_type(pa.float64())
            if field.name in numeric and pa.types.is_null(field.type)
            else field
            for field in schema
        ]
    )
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
