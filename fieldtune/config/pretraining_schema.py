"""The `pretraining:` section of a recipe: domain-adaptive continued pre-training (Gururangan et al. 2020,
"Don't Stop Pretraining"), a masked-LM phase on the task's own texts before fine-tuning.

Kept beside schema.py (same field style: a default, a help text, a check) so the schema stays readable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fieldtune.config.checks import _f, _non_negative, _positive


def _open_fraction(v: Any) -> str | None:  # 0 masks nothing (no loss), 1 leaves no context to predict from
    return None if v is None or 0 < v < 1 else "must be in (0, 1), e.g. 0.15"


@dataclass
class PretrainingConfig:
    epochs: float = _f(
        0.0,
        "Text: epochs of masked-LM training of the encoder on the train split's texts (plus `extra_texts`)"
        " before fine-tuning, which then starts from the adapted encoder (the tokenizer stays the"
        " checkpoint's); never the validation or test texts. A checkpoint without an LM head (sentence-"
        "transformers MiniLM / MPNet) gets a fresh one. Saved in the run's pretraining/; --resume skips a"
        " finished phase. 0: off. An epoch costs ~1.3x a fine-tuning epoch (base models; MiniLM ~2x), more"
        " with extra texts.",
        check=_non_negative,
    )
    learning_rate: float = _f(5e-5, "Peak learning rate of the masked-LM phase.", check=_positive)
    mlm_probability: float = _f(
        0.15, "Share of the tokens masked for the model to predict (BERT: 0.15).", check=_open_fraction
    )
    extra_texts: str | None = _f(
        None,
        "Unlabelled texts of the domain for the masked-LM phase: a .txt file with one text per line, or a"
        " CSV / TSV / JSONL / Parquet table (the column: `extra_texts_column`). Read with the data's encoding"
        " detection and `data.normalize`; never used for fine-tuning or evaluation.",
    )
    extra_texts_column: str | None = _f(
        None,
        "The column of an `extra_texts` table holding the texts; default: the recipe's `data.text_columns`"
        " (joined as training joins them) when the table has them, else its only column.",
    )
