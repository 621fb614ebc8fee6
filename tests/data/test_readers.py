from __future__ import annotations

import json
from pathlib import Path

import pytest

from bertsent.data import load_dataset
from bertsent.data.readers import column_names, iter_records, read_records
from bertsent.errors import DataError
from tests.conftest import synthetic_reviews, write_csv


def test_csv_records_keep_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "reviews.csv"
    path.write_text(
        'text,label\n"a fine, quiet film",positive\n"dull\nand long",negative\n', encoding="utf-8"
    )
    records = read_records(path)
    assert [r.text for r in records] == ["a fine, quiet film", "dull\nand long"]
    assert [r.label for r in records] == ["positive", "negative"]
    assert records[1].where == "reviews.csv lines 3-4"  # a quoted newline: two lines


def test_a_field_error_in_a_record_over_several_lines_names_the_line_it_starts_on(
    tmp_path: Path,
) -> None:
    path = tmp_path / "reviews.csv"
    path.write_text('label,text\npositive,great fun\n,"multi\nline\ntext"\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"reviews.csv lines 3-5: field 'label' is empty"):
        read_records(path)


def test_a_file_that_is_not_parquet_is_named_not_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "reviews.parquet"
    path.write_text("text,label\ngood,positive\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"reviews.parquet: not a readable parquet file"):
        read_records(path)
    with pytest.raises(DataError, match=r"reviews.parquet: not a readable parquet file"):
        column_names(path)


def test_missing_column_names_file_and_columns(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "train.csv", [{"review": "good", "label": "positive"}])
    with pytest.raises(
        DataError, match=r"train.csv: missing column 'text' \(columns found: review, label\)"
    ):
        read_records(path)


def test_empty_text_names_line(tmp_path: Path) -> None:
    path = tmp_path / "train.csv"
    path.write_text("text,label\ngood,positive\n   ,negative\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"train.csv line 3: field 'text' is empty"):
        read_records(path)


def test_non_text_value_in_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    path.write_text(
        json.dumps({"text": "fine", "label": "positive"})
        + "\n"
        + json.dumps({"text": 42, "label": "negative"})
        + "\n"
    )
    with pytest.raises(
        DataError, match=r"train.jsonl line 2: field 'text' is int 42, expected text"
    ):
        read_records(path)


def test_undecodable_bytes_name_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "train.csv"
    path.write_bytes(b"text,label\ngood,positive\nbad \x97 film,negative\n")
    with pytest.raises(
        DataError, match=r"train.csv line 3: byte 0x97 at column 5 is not valid UTF-8"
    ):
        read_records(path)


def test_wrong_field_count(tmp_path: Path) -> None:
    path = tmp_path / "train.csv"
    path.write_text("text,label\ngood,positive,extra\n", encoding="utf-8")
    with pytest.raises(DataError, match="line 2: 3 fields, header has 2"):
        read_records(path)


def test_lines_ended_by_a_carriage_return_alone_are_named_as_such(tmp_path: Path) -> None:
    path = tmp_path / "mac.csv"  # Excel's "CSV (Macintosh)"
    path.write_bytes(b"text,label\rgood film,pos\rbad film,neg\r")
    with pytest.raises(DataError, match=r"mac\.csv line 1: a carriage return inside an unquo"):
        list(iter_records(path))
    stray = tmp_path / "stray.csv"  # one \r inside a field of an ordinary file
    stray.write_bytes(b"text,label\ngood film,pos\nbad\rfilm,neg\n")
    with pytest.raises(DataError, match=r"stray\.csv line 3: a carriage return inside"):
        list(iter_records(stray))


@pytest.mark.parametrize("suffix", [".csv", ".tsv"])
def test_a_stray_quote_is_named_by_line_not_rows_merged_or_altered(
    suffix: str, tmp_path: Path
) -> None:
    """Read leniently, the first file was one record of three lines (two reviews and
    their labels lost) and the second's text lost its quotes, silently."""
    sep = "\t" if suffix == ".tsv" else ","
    merged = tmp_path / f"merged{suffix}"
    merged.write_text(f'text{sep}label\n"a tale{sep}1\nnice{sep}1\nbad" ok{sep}0\n')
    with pytest.raises(DataError, match=r"lines 2-4 \(a quoted field from line 2\): malformed"):
        read_records(merged)
    altered = tmp_path / f"altered{suffix}"
    altered.write_text(f'text{sep}label\nfine{sep}1\n"great" acting{sep}1\n')
    with pytest.raises(DataError, match=r"line 3: malformed row") as error:
        read_records(altered)
    assert "two" in (error.value.hint or "")
    quoted = tmp_path / f"quoted{suffix}"  # the csv rules, as pandas and our outputs write
    quoted.write_text(f'text{sep}label\n"the ""great"" acting{sep} twice"{sep}1\n')
    assert [r.text for r in read_records(quoted)] == [f'the "great" acting{sep} twice']


def test_a_line_of_spaces_is_a_blank_line_as_in_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "train.csv"
    path.write_text("text,label\ngood,positive\n   \nbad,negative\n", encoding="utf-8")
    assert [r.where for r in read_records(path)] == ["train.csv line 2", "train.csv line 4"]


def test_a_column_named_twice_is_refused_when_read(tmp_path: Path) -> None:
    path = tmp_path / "train.csv"
    path.write_text("text,label,text,note,note\na,positive,b,x,y\n", encoding="utf-8")
    with pytest.raises(DataError, match="line 1: the header names column 'text' 2 times"):
        read_records(path)
    unread = tmp_path / "notes.csv"  # a repeated column that is not read is no matter
    unread.write_text("text,label,note,note\na,positive,x,y\n", encoding="utf-8")
    assert [r.text for r in read_records(unread)] == ["a"]


def test_parquet_missing_and_empty(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "train.parquet"
    pq.write_table(pa.table({"text": ["good", None], "label": ["positive", "negative"]}), path)
    with pytest.raises(DataError, match=r"train.parquet row 2: field 'text' is empty"):
        read_records(path)
    with pytest.raises(DataError, match="missing column 'review'"):
        read_records(path, text_column="review")


def test_unsupported_suffix(tmp_path: Path) -> None:
    path = tmp_path / "train.xlsx"
    path.write_bytes(b"x")
    with pytest.raises(DataError, match=r"unsupported file type '\.xlsx'"):
        read_records(path)


def test_label_unseen_in_train_names_dev_line(tmp_path: Path) -> None:
    write_csv(
        tmp_path / "train.csv",
        [
            {"text": t, "label": y}
            for t, y in [("a", "pos"), ("b", "pos"), ("c", "neg"), ("d", "neg")]
        ],
    )
    write_csv(
        tmp_path / "dev.csv", [{"text": "e", "label": "pos"}, {"text": "f", "label": "mixed"}]
    )
    with pytest.raises(
        DataError,
        match=r"dev.csv line 3: label 'mixed' never occurs in train \(train labels: neg, pos\)",
    ):
        load_dataset(str(tmp_path))


def test_class_with_one_example(tmp_path: Path) -> None:
    rows = [("a", "pos"), ("b", "pos"), ("c", "neg"), ("d", "neg"), ("e", "neutral")]
    write_csv(tmp_path / "train.csv", [{"text": t, "label": y} for t, y in rows])
    write_csv(tmp_path / "dev.csv", [{"text": "f", "label": "pos"}])
    with pytest.raises(DataError, match=r"train.csv line 6: class 'neutral' has only 1 example"):
        load_dataset(str(tmp_path))


def test_data_errors_are_value_errors() -> None:
    with pytest.raises(ValueError, match="not found"):
        load_dataset("no/such/dataset.csv")


def test_integer_labels_become_names_but_integer_texts_do_not(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    path.write_text(json.dumps({"text": "fine", "label": 1}) + "\n", encoding="utf-8")
    assert read_records(path)[0].label == "1"
    path.write_text(json.dumps({"text": 7, "label": 1}) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match="field 'text' is int 7, expected text"):
        read_records(path)


def test_a_field_of_megabytes_is_read_in_a_header_or_a_row(tmp_path: Path) -> None:
    """The csv module's default limit (128 KiB a field) used to stop train/evaluate/predict."""
    long_review = "a long but fine review " * 250_000  # 5.75 MB on one line
    path = tmp_path / "train.csv"
    path.write_text(f'text,label\n"{long_review}",positive\nshort,negative\n', encoding="utf-8")
    records = read_records(path)
    assert [len(r.text) for r in records] == [len(long_review), 5]
    assert records[1].where == "train.csv line 3"
    long_name = "x" * 5_000_000
    named = tmp_path / "named.tsv"
    named.write_text(f"text\tlabel\t{long_name}\nfine\tpositive\tnote\n", encoding="utf-8")
    assert [r.row[long_name] for r in iter_records(named, keep_row=True)] == ["note"]


def test_a_semicolon_in_the_single_label_column_is_refused_by_line(tmp_path: Path) -> None:
    texts, labels = synthetic_reviews(20)
    rows = [{"text": t, "label": y} for t, y in zip(texts, labels, strict=True)]
    rows[1]["label"] = "positive;"  # a slip, not a multi-label review
    write_csv(tmp_path / "reviews.csv", rows)
    with pytest.raises(DataError, match=r"reviews.csv line 3: 'positive;' in the single-label"):
        load_dataset(str(tmp_path / "reviews.csv"))
    # a column named by --label-column is single-label too: only 'labels' holds several
    renamed = [{"text": row["text"], "sentiment": row["label"]} for row in rows]
    write_csv(tmp_path / "renamed.csv", renamed)
    with pytest.raises(DataError, match=r"line 3: 'positive;' in the single-label column 'sen"):
        load_dataset(str(tmp_path / "renamed.csv"), label_column="sentiment")


def test_an_aspect_column_that_starts_after_the_first_jsonl_row_is_not_ignored(
    tmp_path: Path,
) -> None:
    rows = [{"text": "The screen is bright", "label": "positive"}] + [
        {"text": f"The battery lasts {n} hours", "label": "negative", "aspect": "battery"}
        for n in range(20)
    ]
    path = tmp_path / "aspects.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    with pytest.raises(DataError, match=r"aspects.jsonl line 1: field 'aspect' is missing"):
        load_dataset(str(path))


def test_an_aspect_that_is_not_text_is_called_so(tmp_path: Path) -> None:
    rows = [{"text": "The battery lasts", "label": "negative", "aspect": 5}] * 20
    path = tmp_path / "aspects.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    with pytest.raises(
        DataError, match=r"aspects.jsonl line 1: field 'aspect' is not text \(int 5\)"
    ):
        load_dataset(str(path))


def test_a_folder_given_as_a_file_is_called_a_folder(tmp_path: Path) -> None:
    folder = tmp_path / "reviews.csv"
    folder.mkdir()
    with pytest.raises(DataError, match=r"reviews.csv: a folder, not a file"):
        read_records(folder)


def test_a_utf16_file_is_called_utf16(tmp_path: Path) -> None:
    path = tmp_path / "reviews.csv"
    path.write_text("text,label\ngood,positive\n", encoding="utf-16")
    with pytest.raises(DataError, match=r"reviews.csv: the file is UTF-16, not UTF-8") as error:
        read_records(path)
    assert "iconv -f utf-16" in (error.value.hint or "")
