"""Chinese text: how much of it an English vocabulary reads, and what encoding detection costs.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_chinese_text.py [--rows 200000]

1. Tokenizer coverage (fieldtune.inputs.coverage) of the Chinese synthetic notes with the shipped MiniLM
   (English WordPiece vocabulary) against the same notes' English version: the unknown-token rate the
   check stops on.
2. Reading a large Chinese CSV: fieldtune's `read_table` on a GB18030 file (detected) and on the same
   table in UTF-8, against pandas' `read_csv(encoding=...)` told the encoding: the ratio is what detection
   and the checks cost.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd

from fieldtune.datasets_builders.logistics_demand import generate
from fieldtune.datasets_builders.normalize import normalize_texts
from fieldtune.datasets_builders.tables import read_table
from fieldtune.inputs.coverage import measure_coverage
from fieldtune.inputs.text import load_tokenizer
from fieldtune.modeling.create import resolve_model_path


def coverage() -> None:
    tok = load_tokenizer(resolve_model_path("sentence-transformers/all-MiniLM-L6-v2"))
    for language in ("en", "zh"):
        texts, _ = normalize_texts(list(generate(1000, 0, language)["note"]), "nfkc")
        found = measure_coverage(tok, texts, 128)
        print(f"MiniLM on {language} notes: {found['unknown_rate']:.1%} unknown tokens, "
              f"{found['truncated_share']:.1%} truncated at 128")  # fmt: skip


def _best(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def reading(rows: int) -> None:
    df = generate(rows, 0, "zh")
    with tempfile.TemporaryDirectory() as tmp:
        for encoding in ("gb18030", "utf-8"):
            path = Path(tmp) / f"notes-{encoding}.csv"
            path.write_bytes(df.to_csv(index=False).encode(encoding))
            ours = _best(lambda p=path: read_table(p))
            theirs = _best(lambda p=path, e=encoding: pd.read_csv(p, encoding=e, dtype=str))
            size = path.stat().st_size / 2**20
            print(f"{encoding:8s} {size:6.1f} MiB: read_table (detected) {ours:.2f} s, pandas told the "
                  f"encoding {theirs:.2f} s, ratio {ours / theirs:.2f}x")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args()
    coverage()
    reading(args.rows)
