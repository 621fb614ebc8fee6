"""Score files of reviews in batches, in constant memory, writing the output atomically."""

from __future__ import annotations

import csv
import itertools
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from bertsent.atomic import atomic_file
from bertsent.data.readers import file_format, iter_records
from bertsent.errors import DataError
from bertsent.models.base import SentimentClassifier


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
) -> int:
    """Add ``label``, ``score`` and per-class scores to every row of ``input_path``.

    The input streams in chunks of ``chunk_size`` rows; the output (its format from its
    suffix) appears only when complete. jsonl rows get a ``scores`` object, csv and
    parquet rows one ``score_<label>`` column per class. Returns the number of rows.
    """
    source, target = Path(input_path), Path(output_path)
    out_format = file_format(target)
    if source.resolve() == target.resolve():
        raise DataError(
            f"{target}: output would overwrite the input", hint="choose another --output"
        )
    from tqdm.auto import tqdm

    records = iter_records(source, text_column, None, keep_row=True)
    count = 0
    with atomic_file(target) as temporary, open_writer(temporary, out_format) as write:
        bar = tqdm(desc=f"scoring {source.name}", unit=" rows", disable=not progress)
        while chunk := list(itertools.islice(records, chunk_size)):
            scored = model.predict_scores([r.text for r in chunk], digits=6)
            rows = []
            for record, result in zip(chunk, scored, strict=True):
                row: dict[str, Any] = {
                    **record.row,
                    "label": result["label"],
                    "score": result["score"],
                }
                if out_format == "jsonl":
                    row["scores"] = result["scores"]
                else:
                    row.update({f"score_{label}": v for label, v in result["scores"].items()})
                rows.append(row)
            write(rows)
            count += len(rows)
            bar.update(len(rows))
        bar.close()
    return count
