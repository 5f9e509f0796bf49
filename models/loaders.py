"""File-format readers: tables (CSV, TSV, Parquet, JSONL), IMDb-style folders, polarity files,
word-per-line tagged files and CoNLL-U. No downloads: the user points at files on disk.

Every reader returns plain Python lists and raises one `DataError` line naming the file and, where
there is one, the line: users fix data files in an editor, so the line number is what they need.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from twinbench.core.errors import DataError

Texts = list[str]
Labels = list[str]
Tagged = list[list[tuple[str, str]]]


def read_text(path: str | Path) -> str:
    """The whole file as UTF-8; missing, empty or undecodable files are DataErrors with the line."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{p}: file does not exist") from None
    except IsADirectoryError:
        raise DataError(f"{p}: is a directory, expected a file") from None
    except OSError as exc:
        raise DataError(f"{p}: cannot be read ({exc.strerror or exc})") from None
    if not raw.strip():
        raise DataError(f"{p}: file is empty")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise DataError(f"{p}:{line}: not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
                        "re-encode the file as UTF-8") from None
    return text.removeprefix("\ufeff")


def _check_label(label: str, known: Sequence[str] | None, where: str) -> str:
    label = str(label).strip()
    if label == "":
        raise DataError(f"{where}: empty label")
    if known is not None and label not in known:
        raise DataError(f"{where}: unknown label {label!r} (expected one of {', '.join(known)})")
    return label


def _check_text(text: Any, where: str) -> str:
    if not isinstance(text, str) or not text.strip():
        raise DataError(f"{where}: empty or missing text")
    return text


# -- tables ---------------------------------------------------------------------------------------


def read_delimited(path: str | Path, *, delimiter: str, text_column: str = "text",
                   label_column: str = "label", labels: Sequence[str] | None = None) -> tuple[Texts, Labels]:
    """CSV / TSV with a header row naming `text_column` and `label_column`."""
    p = Path(path)
    reader = csv.DictReader(io.StringIO(read_text(p), newline=""), delimiter=delimiter)
    header = reader.fieldnames or []
    for col in (text_column, label_column):
        if col not in header:
            raise DataError(f"{p}:1: no column {col!r} in the header (columns: {', '.join(header)})")
    texts, out = [], []
    try:
        for row in reader:
            where = f"{p}:{reader.line_num}"
            if None in row or any(v is None for v in row.values()):
                raise DataError(f"{where}: expected {len(header)} fields")
            texts.append(_check_text(row[text_column], where))
            out.append(_check_label(row[label_column], labels, where))
    except csv.Error as exc:
        raise DataError(f"{p}:{reader.line_num}: malformed row ({exc})") from None
    if not texts:
        raise DataError(f"{p}: no data rows after the header")
    return texts, out


def read_jsonl(path: str | Path, *, text_column: str = "text", label_column: str = "label",
               labels: Sequence[str] | None = None) -> tuple[Texts, Labels]:
    """One JSON object per line; blank lines are skipped."""
    p = Path(path)
    texts, out = [], []
    for n, line in enumerate(read_text(p).splitlines(), 1):
        if not line.strip():
            continue
        where = f"{p}:{n}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{where}: not valid JSON ({exc.msg})") from None
        if not isinstance(obj, dict) or text_column not in obj or label_column not in obj:
            raise DataError(f"{where}: expected an object with keys {text_column!r} and {label_column!r}")
        texts.append(_check_text(obj[text_column], where))
        out.append(_check_label(obj[label_column], labels, where))
    return texts, out


def read_parquet(path: str | Path, *, text_column: str = "text", label_column: str = "label",
                 labels: Sequence[str] | None = None) -> tuple[Texts, Labels]:
    """Parquet has no lines: errors name the row (0-based) instead."""
    import pyarrow.parquet as pq

    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: file does not exist")
    try:
        table = pq.read_table(p)
    except Exception as exc:  # pyarrow raises several types for a corrupt file
        raise DataError(f"{p}: not a readable Parquet file ({type(exc).__name__}: {exc})") from None
    for col in (text_column, label_column):
        if col not in table.column_names:
            raise DataError(f"{p}: no column {col!r} (columns: {', '.join(table.column_names)})")
    if table.num_rows == 0:
        raise DataError(f"{p}: file is empty (0 rows)")
    texts, out = [], []
    for i, (t, y) in enumerate(zip(table.column(text_column).to_pylist(), table.column(label_column).to_pylist())):
        where = f"{p}: row {i}"
        texts.append(_check_text(t, where))
        if y is None:
            raise DataError(f"{where}: missing label")
        out.append(_check_label(y, labels, where))
    return texts, out


def read_table(path: str | Path, fmt: str, **kw: Any) -> tuple[Texts, Labels]:
    """Dispatch on format name: csv, tsv, parquet, jsonl."""
    if fmt == "csv":
        return read_delimited(path, delimiter=",", **kw)
    if fmt == "tsv":
        return read_delimited(path, delimiter="\t", **kw)
    if fmt == "parquet":
        return read_parquet(path, **kw)
    if fmt == "jsonl":
        return read_jsonl(path, **kw)
    raise DataError(f"{path}: unknown table format {fmt!r}")


# -- folders and per-class files -------------------------------------------------------------------


def _clean_review(text: str) -> str:
    return text.replace("<br />", " ").replace("<br/>", " ").strip()


def read_imdb_folder(root: str | Path) -> dict[str, tuple[Texts, Labels]]:
    """IMDb layout: root/{train,test}/{pos,neg}/*.txt (or root/{pos,neg}/*.txt).

    Returns {"train": ..., "test": ...} or {"all": ...}; labels are "neg"/"pos"."""
    p = Path(root)
    if not p.is_dir():
        raise DataError(f"{p}: not a directory (expected train|test/pos|neg/*.txt)")
    splits = [s for s in ("train", "test") if (p / s).is_dir()]
    out: dict[str, tuple[Texts, Labels]] = {}
    for split in splits or ["all"]:
        base = p / split if splits else p
        texts, labels = [], []
        for label in ("neg", "pos"):
            folder = base / label
            if not folder.is_dir():
                raise DataError(f"{folder}: missing class folder (expected {base}/pos and {base}/neg)")
            files = sorted(folder.glob("*.txt"))
            if not files:
                raise DataError(f"{folder}: no .txt files")
            for f in files:
                texts.append(_check_text(_clean_review(read_text(f)), f"{f}:1"))
                labels.append(label)
        out[split] = (texts, labels)
    return out


def polarity_files(path: str | Path | Mapping[str, str]) -> dict[str, Path]:
    """Class -> file: a mapping as given; a prefix `rt-polarity` finding `rt-polarity.pos/.neg`;
    or a folder holding `*.pos` and `*.neg` (one file each)."""
    if isinstance(path, Mapping):
        files = {str(k): Path(v) for k, v in path.items()}
    else:
        p = Path(path)
        if p.is_dir():
            files = {}
            for suffix in ("neg", "pos"):
                found = sorted(p.glob(f"*.{suffix}"))
                if len(found) != 1:
                    raise DataError(f"{p}: expected exactly one *.{suffix} file, found {len(found)}")
                files[suffix] = found[0]
        else:
            files = {suffix: p.with_name(f"{p.name}.{suffix}") for suffix in ("neg", "pos")}
    if len(files) < 2:
        raise DataError(f"{path}: polarity data needs at least two classes (files), got {len(files)}")
    return files


def read_polarity(path: str | Path | Mapping[str, str]) -> tuple[Texts, Labels]:
    """One snippet per line, one file per class; blank lines are skipped; labels are the class names."""
    texts, labels = [], []
    for label, f in sorted(polarity_files(path).items()):
        n_before = len(texts)
        for line in read_text(f).splitlines():
            if line.strip():
                texts.append(line.strip())
                labels.append(label)
        if len(texts) == n_before:
            raise DataError(f"{f}: no snippets")
    return texts, labels


# -- tagging --------------------------------------------------------------------------------------


def _sentences(lines: Iterator[tuple[int, list[str] | None]]) -> Iterator[list[tuple[int, list[str]]]]:
    current: list[tuple[int, list[str]]] = []
    for n, fields in lines:
        if fields is None:
            if current:
                yield current
            current = []
        else:
            current.append((n, fields))
    if current:
        yield current


def _numbered_fields(p: Path, sep: str | None) -> Iterator[tuple[int, list[str] | None]]:
    """(line number, fields split on `sep`) per line; None for a blank line; `#` comments skipped."""
    for n, line in enumerate(read_text(p).splitlines(), 1):
        if not line.strip():
            yield n, None
        elif not line.startswith("#"):
            yield n, line.split(sep)


def read_tagged(path: str | Path) -> Tagged:
    """Word-per-line: `word<TAB or spaces>tag`, a blank line between sentences; `#` lines are comments."""
    p = Path(path)
    out: Tagged = []
    for sent in _sentences(_numbered_fields(p, None)):
        tokens = []
        for n, fields in sent:
            if len(fields) != 2:
                raise DataError(f"{p}:{n}: expected 'word<TAB>tag' (2 fields), got {len(fields)}: {' '.join(fields)!r}")
            tokens.append((fields[0], fields[1]))
        out.append(tokens)
    if not out:
        raise DataError(f"{p}: no sentences")
    return out


def read_conllu(path: str | Path) -> Tagged:
    """CoNLL-U: 10 tab-separated columns; we keep FORM (2nd) and UPOS (4th). Comment lines,
    multi-word token ranges (`1-2`) and empty nodes (`1.1`) are skipped."""
    p = Path(path)
    out: Tagged = []
    for sent in _sentences(_numbered_fields(p, "\t")):
        tokens = []
        for n, cols in sent:
            if len(cols) != 10:
                raise DataError(f"{p}:{n}: expected 10 tab-separated CoNLL-U columns, got {len(cols)}")
            if "-" in cols[0] or "." in cols[0]:
                continue
            if not cols[0].isdigit():
                raise DataError(f"{p}:{n}: bad token id {cols[0]!r}")
            if not cols[1] or not cols[3] or cols[3] == "_":
                raise DataError(f"{p}:{n}: missing FORM or UPOS")
            tokens.append((cols[1], cols[3]))
        if tokens:
            out.append(tokens)
    if not out:
        raise DataError(f"{p}: no sentences")
    return out
