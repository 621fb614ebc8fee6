"""Read labelled or unlabelled texts from csv, tsv, jsonl and parquet files.

Every value is checked where it is read, so an error can name the file, the line
(csv/tsv/jsonl) or row (parquet) and the field.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bertsent.errors import DataError

SUPPORTED_SUFFIXES = (".csv", ".tsv", ".jsonl", ".parquet")
_COLUMN_HINT = "choose the columns with --text-column / --label-column"
# The csv module stops at fields over 128 KiB by default, and real files hold longer
# reviews (a 5 MB one was reported). Each line is in memory whole anyway; the limit is
# kept only to stop a quote left open from reading the rest of a file into one field.
CSV_FIELD_LIMIT = 64 * 2**20


@dataclass(frozen=True)
class Record:
    """One text (and label, when asked for) with the place it came from."""

    text: str
    label: str | None
    where: str  # e.g. "train.csv line 12"
    row: dict[str, object] = field(default_factory=dict, repr=False, compare=False)


def file_format(path: Path) -> str:
    """Return the format name for ``path`` from its suffix, or raise a DataError."""
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise DataError(
            f"{path}: unsupported file type '{suffix or '(none)'}'",
            hint=f"use one of {', '.join(SUPPORTED_SUFFIXES)}",
        )
    return suffix[1:]


def read_records(
    path: Path, text_column: str = "text", label_column: str | None = "label"
) -> list[Record]:
    """Read every record of a file, validating texts and (optionally) labels."""
    return list(iter_records(path, text_column, label_column))


def iter_records(
    path: Path,
    text_column: str = "text",
    label_column: str | None = "label",
    *,
    keep_row: bool = False,
) -> Iterator[Record]:
    """Stream records from ``path`` in file order, in constant memory.

    With ``keep_row`` each record also carries all of its row's fields (for parquet,
    otherwise only the needed columns are read).

    Raises:
        DataError: naming the file and line/row of a missing column, an empty or
            non-text value, a malformed row or bytes that are not UTF-8.
    """
    if not path.is_file():
        raise DataError(
            f"{path}: " + ("a folder, not a file" if path.is_dir() else "file not found")
        )
    fmt = file_format(path)
    columns = [c for c in (text_column, label_column) if c]
    if fmt in ("csv", "tsv"):
        rows = _iter_delimited(path, "\t" if fmt == "tsv" else ",", columns, keep_row)
    elif fmt == "jsonl":
        rows = _iter_jsonl(path, columns)
    else:
        rows = _iter_parquet(path, columns, all_columns=keep_row)
    for where, row in rows:
        text = _text_field(row, text_column, path, where)
        label = (
            _text_field(row, label_column, path, where, numbers_ok=True).strip()
            if label_column
            else None
        )
        yield Record(text=text, label=label, where=f"{path.name} {where}", row=row)


def _text_field(
    row: dict[str, object], column: str, path: Path, where: str, numbers_ok: bool = False
) -> str:
    value = row[column]
    if value is None or (isinstance(value, float) and value != value):  # None or NaN
        raise DataError(f"{path} {where}: field '{column}' is empty")
    if numbers_ok and isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # integer class ids in jsonl/parquet label columns
    if not isinstance(value, str):
        raise DataError(
            f"{path} {where}: field '{column}' is {type(value).__name__} {value!r}, expected text"
        )
    if not value.strip():
        raise DataError(f"{path} {where}: field '{column}' is empty")
    return value


def _require_columns(path: Path, found: list[str], needed: list[str], where: str = "") -> None:
    for column in needed:
        if column not in found:
            place = f"{path} {where}".strip()
            raise DataError(
                f"{place}: missing column '{column}' (columns found: {', '.join(found) or 'none'})",
                hint=_COLUMN_HINT,
            )


def _refuse_repeated_columns(path: Path, header: list[str], read: list[str] | None) -> None:
    """A header naming a column twice leaves which one is meant to chance (the last
    would win): refused for the columns read (``None``: every named column)."""
    for column in dict.fromkeys(header if read is None else read):
        if column and header.count(column) > 1:
            raise DataError(
                f"{path} line 1: the header names column '{column}' {header.count(column)} times",
                hint="rename the columns so that each name occurs once",
            )


def _distinct_blank_columns(header: list[str]) -> list[str]:
    """Several blank header cells named by position ("column 3", 1-based), so that a
    row kept whole (``predict``'s output) keeps each one's values: as keys of one row
    they would all be "" and only the last value would survive. One blank cell stays
    blank (nothing is lost, and the output's header matches the input's)."""
    if header.count("") < 2:
        return header
    taken = set(header)
    named = []
    for position, name in enumerate(header, start=1):
        if not name:
            name = f"column {position}"
            while name in taken:  # a named column already called that
                name += "_"
            taken.add(name)
        named.append(name)
    return named


def _decode_error(path: Path, exc: UnicodeDecodeError, line: int) -> DataError:
    column = exc.start + 1
    bad = exc.object[exc.start : exc.start + 1]
    if line == 1 and exc.object[:2] in (b"\xff\xfe", b"\xfe\xff"):  # a UTF-16 byte-order mark
        return DataError(
            f"{path}: the file is UTF-16, not UTF-8",
            hint="re-save it as UTF-8 (e.g. `iconv -f utf-16 -t utf-8 in.csv > out.csv`)",
        )
    return DataError(
        f"{path} line {line}: byte 0x{bad.hex()} at column {column} is not valid UTF-8",
        hint="re-save the file as UTF-8 (e.g. `iconv -f cp1252 -t utf-8 in.csv > out.csv`)",
    )


def _iter_lines(path: Path) -> Iterator[str]:
    """Yield decoded lines (with their ends), reporting undecodable bytes by line and column."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                yield raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                raise _decode_error(path, exc, number) from None


def allow_long_csv_fields() -> None:
    """Raise the csv module's field limit to :data:`CSV_FIELD_LIMIT`, never lower it.

    The limit is process-wide (there is no per-reader setting), so this is called
    where csv files are read, not at import.
    """
    if csv.field_size_limit() < CSV_FIELD_LIMIT:
        csv.field_size_limit(CSV_FIELD_LIMIT)


def _csv_error(path: Path, line: int, exc: csv.Error, first_line: int | None = None) -> DataError:
    if "field larger than field limit" in str(exc):
        return DataError(
            f"{path} line {line}: a field is longer than {CSV_FIELD_LIMIT // 2**20} MiB",
            hint='look for a quote (") left open on this line or above it',
        )
    if "new-line character seen in unquoted field" in str(exc):  # a \r not ending a line
        return DataError(
            f"{path} line {line}: a carriage return inside an unquoted field (a file whose "
            "lines end with a carriage return alone, as old Mac exports do, reads as one line)",
            hint='quote the field ("...") or remove the carriage return; save such a file '
            "with Unix (LF) or Windows (CRLF) line ends",
        )
    where = f"line {line}"
    if first_line is not None and first_line < line:  # a quote opened lines above
        where = f"lines {first_line}-{line} (a quoted field from line {first_line})"
    return DataError(
        f"{path} {where}: malformed row ({exc})",
        hint='a field that starts with a quote (") runs to its closing quote, which must '
        'end the field; write a quote inside a quoted field as two ("")',
    )


def _iter_delimited(
    path: Path, delimiter: str, needed: list[str], all_columns: bool = False
) -> Iterator[tuple[str, dict[str, object]]]:
    """Rows of a csv/tsv file. Quotes follow the csv rules (a field that starts with
    ``"`` runs to its closing quote, ``""`` inside it is one quote), read strictly: a
    stray quote is an error naming its line, never rows silently merged or altered."""
    allow_long_csv_fields()
    reader = csv.reader(_iter_lines(path), delimiter=delimiter, strict=True)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise DataError(f"{path}: file is empty") from None
    except csv.Error as exc:
        raise _csv_error(path, reader.line_num, exc) from None
    _require_columns(path, header, needed)
    _refuse_repeated_columns(path, header, None if all_columns else needed)
    if all_columns:
        header = _distinct_blank_columns(header)
    while True:
        first_line = reader.line_num + 1  # a quoted field may carry the record over lines
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise _csv_error(path, reader.line_num, exc, first_line) from None
        spaces = len(values) == 1 < len(header) and not values[0].strip()
        if not values or spaces:  # a blank line (or one of spaces: no row of these columns)
            continue
        last_line = reader.line_num
        where = (
            f"line {first_line}" if last_line == first_line else f"lines {first_line}-{last_line}"
        )
        if len(values) != len(header):
            raise DataError(
                f"{path} {where}: {len(values)} fields, header has {len(header)}",
                hint="quote fields that contain the delimiter",
            )
        yield where, dict(zip(header, values, strict=True))


def _iter_jsonl(path: Path, needed: list[str]) -> Iterator[tuple[str, dict[str, object]]]:
    for number, line in enumerate(_iter_lines(path), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path} line {number}: invalid JSON ({exc.msg})") from None
        if not isinstance(row, dict):
            raise DataError(
                f"{path} line {number}: expected a JSON object, got {type(row).__name__}"
            )
        _require_columns(path, list(row), needed, where=f"line {number}")
        yield f"line {number}", row


def _iter_parquet(
    path: Path, needed: list[str], all_columns: bool = False
) -> Iterator[tuple[str, dict[str, object]]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    with unreadable_parquet(path):
        parquet = pq.ParquetFile(path)
    _require_columns(path, list(parquet.schema_arrow.names), needed)
    row_number = 0
    batches = parquet.iter_batches(batch_size=8192, columns=None if all_columns else needed)
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return
        except (pa.ArrowException, OSError) as exc:
            raise DataError(
                f"{path} after row {row_number}: the parquet data cannot be read ({exc})"
            ) from None
        for row in batch.to_pylist():
            row_number += 1
            yield f"row {row_number}", row


@contextmanager
def unreadable_parquet(path: Path) -> Iterator[None]:
    """Turn pyarrow's failure to open ``path`` into a DataError that names it."""
    import pyarrow as pa

    try:
        yield
    except (pa.ArrowException, OSError) as exc:
        raise DataError(
            f"{path}: not a readable parquet file ({exc})",
            hint="a .parquet file must be written by a parquet writer (pandas to_parquet, "
            "pyarrow); a csv file needs the .csv suffix",
        ) from None


def column_names(path: Path, fmt: str | None = None) -> list[str]:
    """The input's column names, read ahead of the rows (empty if they cannot be read).

    A jsonl file names its columns row by row: this is the first row's; later rows are
    checked as they are scored. Unreadable headers are left for the reader to report
    with their line.
    """
    fmt = fmt or file_format(path)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        with unreadable_parquet(path):
            return list(pq.read_schema(path).names)
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as handle:
        if fmt == "jsonl":
            first = next((line for line in handle if line.strip()), "")
            try:
                row = json.loads(first)
            except ValueError:
                return []
            return list(row) if isinstance(row, dict) else []
        try:
            header = next(csv.reader(handle, delimiter="\t" if fmt == "tsv" else ","), [])
        except csv.Error:
            return []
        return _distinct_blank_columns([name.strip() for name in header])
