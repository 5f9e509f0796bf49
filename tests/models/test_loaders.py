"""Every loader on small fixture files; bad data names the file and line."""

from __future__ import annotations

import json

import pytest

from twinbench.core.errors import DataError
from twinbench.models import loaders


def test_csv_tsv_jsonl_parquet(tmp_path) -> None:
    (tmp_path / "d.csv").write_text('text,label\n"good, fun",pos\nbad,neg\n', encoding="utf-8")
    (tmp_path / "d.tsv").write_text("text\tlabel\ngood\t1\nbad\t0\n", encoding="utf-8")
    (tmp_path / "d.jsonl").write_text(json.dumps({"text": "good", "label": 1}) + "\n\n"
                                      + json.dumps({"text": "bad", "label": 0}) + "\n")
    assert loaders.read_table(tmp_path / "d.csv", "csv") == (["good, fun", "bad"], ["pos", "neg"])
    assert loaders.read_table(tmp_path / "d.tsv", "tsv") == (["good", "bad"], ["1", "0"])
    assert loaders.read_table(tmp_path / "d.jsonl", "jsonl") == (["good", "bad"], ["1", "0"])
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"review": ["good", "bad"], "y": ["p", "n"]}), tmp_path / "d.parquet")
    got = loaders.read_table(tmp_path / "d.parquet", "parquet", text_column="review", label_column="y")
    assert got == (["good", "bad"], ["p", "n"])


@pytest.mark.parametrize("content, match", [
    (b"", "empty"),
    (b"text,label\ngood,pos\nbad,\xff\xfe\n", r"d.csv:3: not valid UTF-8"),
    (b"text,label\ngood,pos\nbad,meh\n", r"d.csv:3: unknown label 'meh'"),
    (b"txt,label\ngood,pos\n", r"d.csv:1: no column 'text'"),
])
def test_bad_csv(tmp_path, content: bytes, match: str) -> None:
    (tmp_path / "d.csv").write_bytes(content)
    with pytest.raises(DataError, match=match):
        loaders.read_delimited(tmp_path / "d.csv", delimiter=",", labels=["neg", "pos"])


def test_bad_jsonl_line(tmp_path) -> None:
    (tmp_path / "d.jsonl").write_text('{"text": "a", "label": 1}\n{oops\n')
    with pytest.raises(DataError, match=r"d.jsonl:2: not valid JSON"):
        loaders.read_jsonl(tmp_path / "d.jsonl")


def test_imdb_folder(tmp_path) -> None:
    for split in ("train", "test"):
        for label in ("pos", "neg"):
            (tmp_path / split / label).mkdir(parents=True)
            (tmp_path / split / label / "0_7.txt").write_text(f"{label} review<br />two", encoding="utf-8")
    got = loaders.read_imdb_folder(tmp_path)
    assert set(got) == {"train", "test"}
    assert got["train"] == (["neg review two", "pos review two"], ["neg", "pos"])
    (tmp_path / "train" / "neg" / "0_7.txt").unlink()
    with pytest.raises(DataError, match="no .txt files"):
        loaders.read_imdb_folder(tmp_path)


def test_polarity_prefix_folder_and_mapping(tmp_path) -> None:
    (tmp_path / "rt.pos").write_text("a fine film\n\nlovely\n", encoding="utf-8")
    (tmp_path / "rt.neg").write_text("a dull film\n", encoding="utf-8")
    expect = (["a dull film", "a fine film", "lovely"], ["neg", "pos", "pos"])
    assert loaders.read_polarity(tmp_path / "rt") == expect
    assert loaders.read_polarity(tmp_path) == expect
    texts, labels = loaders.read_polarity({"good": str(tmp_path / "rt.pos"), "bad": str(tmp_path / "rt.neg")})
    assert labels == ["bad", "good", "good"]
    (tmp_path / "rt.neg").write_bytes(b"caf\xe9\n")  # latin-1, as the original files are
    with pytest.raises(DataError, match=r"rt.neg:1: not valid UTF-8"):
        loaders.read_polarity(tmp_path / "rt")


def test_tagged_and_ragged_line(tmp_path) -> None:
    p = tmp_path / "t.txt"
    p.write_text("The\tDET\ndog  NOUN\n\n\nruns\tVERB\n", encoding="utf-8")
    assert loaders.read_tagged(p) == [[("The", "DET"), ("dog", "NOUN")], [("runs", "VERB")]]
    p.write_text("The\tDET\ndog\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"t.txt:2: expected 'word<TAB>tag'"):
        loaders.read_tagged(p)


def test_conllu(tmp_path) -> None:
    row = "{}\t{}\t_\t{}\t_\t_\t_\t_\t_\t_"
    p = tmp_path / "x.conllu"
    p.write_text("\n".join(["# text = Don't go", row.format("1-2", "Don't", "_"), row.format(1, "Do", "AUX"),
                            row.format(2, "n't", "PART"), row.format(3, "go", "VERB"), ""]), encoding="utf-8")
    assert loaders.read_conllu(p) == [[("Do", "AUX"), ("n't", "PART"), ("go", "VERB")]]
    p.write_text("1\tDo\t_\tAUX\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"x.conllu:1: expected 10"):
        loaders.read_conllu(p)
