"""Text tables in the encodings Chinese users save them in read to the same dataset (issue 15, item 3)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fieldtune.config import DataConfig
from fieldtune.datasets_builders import build_dataset
from fieldtune.datasets_builders.data_report import recording
from fieldtune.datasets_builders.encodings import decode, detect, detect_bytes, open_text
from fieldtune.datasets_builders.tables import read_table
from fieldtune.errors import DataError

# Traditional characters (Big5 has no simplified ones); GB18030 encodes every character
NOTES = [
    ("冷鏈運輸 {i} 個托盤，急件", "高"),
    ("報關文件齊全，貨櫃 {i} 號", "中"),
    ("台北倉庫補貨 {i} 箱，不急", "低"),
]
TABLE = "note,demand_level\n" + "".join(
    f"{note.format(i=i)},{level}\n" for i in range(12) for note, level in NOTES
)
ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "gb18030", "gbk", "big5"]


def _write(folder: Path, encoding: str, text: str = TABLE) -> Path:
    path = folder / f"orders-{encoding}.csv"
    path.write_bytes(text.encode(encoding))
    return path


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_every_encoding_gives_the_same_table(tmp_path: Path, encoding: str) -> None:
    reference = read_table(_write(tmp_path, "utf-8"))
    path = _write(tmp_path, encoding)
    with recording() as report:
        df = read_table(path)
    assert df.equals(reference)
    assert df["note"][0] == "冷鏈運輸 0 個托盤，急件" and list(df.columns) == ["note", "demand_level"]
    expected = {"utf-16-le": "utf-16-le", "gbk": "gb18030"}.get(encoding, encoding)
    assert report["encodings"][str(path)] == expected
    assert detect(path) == expected


def test_builder_dataset_is_identical_across_encodings(tmp_path: Path) -> None:
    """The whole path: builder, normalisation (the full-width comma becomes `,`), splits."""
    datasets = []
    for encoding in ("utf-8-sig", "gb18030", "big5", "utf-16"):
        config = DataConfig(
            path=str(_write(tmp_path, encoding)), text_columns=["note"], label_column="demand_level"
        )
        with recording() as report:
            dd = build_dataset(config, "text-classification")
        datasets.append({s: (list(d["text"]), list(d["label"])) for s, d in dd.items()})
        assert report["normalization"]["mode"] == "nfkc"
        assert report["normalization"]["full_width"] == len(NOTES) * 12
    assert all(d == datasets[0] for d in datasets)
    assert "冷鏈運輸 0 個托盤,急件" in datasets[0]["train"][0] + datasets[0]["test"][0]


def test_given_encoding_overrides_detection(tmp_path: Path) -> None:
    path = tmp_path / "cafe.csv"
    path.write_bytes("note,label\nCafé für Köln,a\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"cafe.csv is not UTF-8.*offset 14.*data.encoding"):
        read_table(path)
    assert read_table(path, encoding="latin-1")["note"][0] == "Café für Köln"


def test_wrong_given_encoding_names_file_offset_and_key(tmp_path: Path) -> None:
    path = _write(tmp_path, "big5")
    with pytest.raises(DataError) as e:
        read_table(path, encoding="utf-8")
    message = str(e.value)
    assert "\n" not in message
    assert str(path) in message and "offset 18" in message and "`data.encoding`" in message


def test_open_text_streams_in_the_detected_encoding(tmp_path: Path) -> None:
    """The API a chunked reader uses: detect once, then read a stream; a BOM never becomes text."""
    for encoding in ("utf-8-sig", "gb18030"):
        path = _write(tmp_path, encoding)
        with open_text(path, detect(path)) as f:
            assert f.read() == TABLE
    raw = b"note\n" + "冷鏈".encode("big5")
    assert decode(raw, Path("x.txt")).text == "note\n冷鏈"
    assert decode(b"\xef\xbb\xbfnote", Path("x.txt"), "utf-8").text == "note"


ENGLISH = "note,demand_level\n" + "".join(f"{i} pallets of cement, urgent,high\n" for i in range(20))


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"])
def test_english_utf16_without_bom_is_detected_by_its_nul_bytes(tmp_path: Path, encoding: str) -> None:
    """English UTF-16 (UTF-32) without a BOM is valid UTF-8 (NUL is a character): it must not be read as
    NUL-interleaved text (issue 29, item 7). Tables and predict's streamed readers go through `detect`."""
    path = tmp_path / "orders.csv"
    path.write_bytes(ENGLISH.replace(", urgent", "").encode(encoding))
    assert detect(path) == encoding
    with recording() as report:
        df = read_table(path)
    assert report["encodings"][str(path)] == encoding
    assert list(df.columns) == ["note", "demand_level"] and df["note"][3] == "3 pallets of cement"
    lines = tmp_path / "notes.txt"
    lines.write_bytes("two pallets\nurgent crate\n".encode(encoding))
    with open_text(lines, detect(lines)) as f:
        assert f.read().splitlines() == ["two pallets", "urgent crate"]


def test_a_stray_nul_keeps_utf8(tmp_path: Path) -> None:
    """A NUL or two in a UTF-8 file (a bad export) is no UTF-16 pattern: the file stays UTF-8."""
    assert detect_bytes(ENGLISH.replace("3 pallets", "3\0pallets").encode("utf-8")) == "utf-8"
    assert detect_bytes("你好，托盘".encode("utf-16-le")) == "utf-16-le"  # no NUL: charset-normalizer's call
