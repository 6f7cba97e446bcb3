"""Messages that named the library's internals instead of the user's input (issue 29): a broken line of a
`metadata.jsonl` reported by its byte position (pandas) instead of its line number, as text JSONL is; a
CSV line with a field too many reported as pandas' "C error: Expected 2 fields". Same
table machinery as `tests/test_bad_inputs.py`. And the inputs that were misread for the case of their
extension (`NOTES.TXT` is a text file, `ORDERS.JSONL` a JSONL table, `LABELS.CSV` a metadata table)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from fieldtune.config import DataConfig
from fieldtune.datasets_builders import build_dataset
from fieldtune.datasets_builders.tables import read_table
from fieldtune.inference.predict_inputs import text_source
from tests import test_bad_inputs as table
from tests import test_bad_inputs_files as files
from tests.test_bad_inputs import Case, Ctx, _orders_frame, _png, _recipe, _train

tiny_vit, tiny_classifier = table.tiny_vit, files.tiny_classifier  # module fixtures, found by name


def _photos(root: Path, name: str, broken_line: int | None = None) -> Path:
    """Six labelled PNGs and their metadata file `name` (JSONL or CSV); `broken_line`: cut that line short."""
    rows = [{"file_name": f"{i}.png", "label": "granite" if i % 2 else "shale"} for i in range(6)]
    for i, row in enumerate(rows):
        _png(root / row["file_name"], (40 * i, 120, 200))
    if name.lower().endswith(".jsonl"):
        lines = [json.dumps(r) for r in rows]
        if broken_line is not None:
            lines[broken_line - 1] = lines[broken_line - 1][:-2]
        (root / name).write_text("\n".join(lines) + "\n")
    else:
        (root / name).write_text(
            "file_name,label\n" + "".join(f"{r['file_name']},{r['label']}\n" for r in rows)
        )
    return root / name


def s_metadata_jsonl_broken_line(ctx: Ctx) -> list[str]:
    root = ctx.tmp / "photos"
    _photos(root, "metadata.jsonl", broken_line=3)
    data = {"builder": "image_folder", "path": str(root)}
    return _train(ctx, _recipe(ctx, task="image-classification", model=ctx.vit, data=data))


def _ragged_csv(ctx: Ctx) -> Path:
    """Orders whose 6th line has an unquoted comma in the note: one field too many."""
    path = ctx.tmp / "orders.csv"
    lines = _orders_frame(40)[["note", "demand_level"]].to_csv(index=False).splitlines()
    lines[5] = "two pallets, urgent,high"
    path.write_text("\n".join(lines) + "\n")
    return path


def s_csv_line_with_a_field_too_many(ctx: Ctx) -> list[str]:
    data = {"path": str(_ragged_csv(ctx)), "text_columns": ["note"], "label_column": "demand_level"}
    return _train(ctx, _recipe(ctx, data=data))


def s_predict_csv_line_with_a_field_too_many(ctx: Ctx) -> list[str]:
    return ["predict", str(files._classifier(ctx)), "--input", str(_ragged_csv(ctx)), "--text-column", "note"]


CASES = [
    Case("metadata-jsonl-broken-line", s_metadata_jsonl_broken_line, ("metadata.jsonl", "line 3", "not valid JSON", "fix the line")),
    Case("csv-line-with-a-field-too-many", s_csv_line_with_a_field_too_many, ("orders.csv", "line 6 has 3 fields where the header has 2", "data.delimiter")),
    Case("predict-csv-line-with-a-field-too-many", s_predict_csv_line_with_a_field_too_many, ("orders.csv", "line 6 has 3 fields where the header has 2")),
]  # fmt: skip


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=c.marks) for c in CASES])
def test_message_names_the_users_input(
    case: Case, tmp_path, tiny_bert, tiny_vit, request, monkeypatch, capsys
):
    table.run_case(case, Ctx(tmp_path, tiny_bert, tiny_vit, request, monkeypatch), capsys)


# --------------------------------------------------------------------------- extensions in any case


@pytest.mark.parametrize("suffix", [".JSONL", ".Parquet", ".TSV", ".CSV", ".Json"])
def test_a_table_reads_the_same_whatever_the_case_of_its_extension(tmp_path: Path, suffix: str) -> None:
    df = _orders_frame(12)[["note", "demand_level"]]
    lower = tmp_path / f"orders{suffix.lower()}"
    writers = {
        ".jsonl": lambda p: df.to_json(p, orient="records", lines=True),
        ".json": lambda p: df.to_json(p, orient="records"),
        ".parquet": lambda p: df.to_parquet(p),
        ".tsv": lambda p: df.to_csv(p, sep="\t", index=False),
        ".csv": lambda p: df.to_csv(p, index=False),
    }
    writers[suffix.lower()](lower)
    upper = tmp_path / f"ORDERS{suffix}"
    upper.write_bytes(lower.read_bytes())
    expected = read_table(lower)
    assert list(expected["note"]) == list(df["note"])
    pd.testing.assert_frame_equal(read_table(upper), expected)


def test_predict_reads_an_upper_case_txt_as_lines(tmp_path: Path) -> None:
    """`NOTES.TXT` is a text file: one text per line (a comma is part of the text), not a CSV table."""
    notes = tmp_path / "NOTES.TXT"
    notes.write_text("two pallets, urgent\nthree crates of cement\n")
    source = text_source(str(notes), None, None)
    assert [texts for texts, _ in source.chunks(10)] == [["two pallets, urgent", "three crates of cement"]]
    assert source.count() == 2


def test_image_metadata_named_in_upper_case_is_read_as_csv(tmp_path: Path) -> None:
    meta = _photos(tmp_path / "photos", "LABELS.CSV")
    config = DataConfig(builder="image_folder", path=str(meta), validation_size=0.0, test_size=0.0)
    dd = build_dataset(config, "image-classification")
    assert len(dd["train"]) == 6 and dd["train"].features["label"].names == ["granite", "shale"]


def test_image_metadata_file_in_upper_case_is_found(tmp_path: Path) -> None:
    _photos(tmp_path / "photos", "METADATA.CSV")
    config = DataConfig(
        builder="image_folder", path=str(tmp_path / "photos"), validation_size=0.0, test_size=0.0
    )
    dd = build_dataset(config, "image-classification")
    assert len(dd["train"]) == 6 and dd["train"].features["label"].names == ["granite", "shale"]
