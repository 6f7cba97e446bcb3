"""The masked-LM phase (`pretraining.epochs`): transformers' own masked-LM step against fieldtune's, which runs
the vocabulary head on the masked positions only (`trainers/pretraining.py`, `MaskedLMTrainer.compute_loss`).

Both train the same checkpoint from the same weights on the same batches (one `DataCollatorForLanguageModeling`
draw, replayed), with the Trainer, its AdamW and the precision `precision: auto` picks; only the loss path
differs. It prints steps/s of each, their ratio, and the two loss curves' largest difference (the same
objective: they should agree to float rounding).

    HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 taskset -c 0 python benchmarks/bench_pretraining.py \
        --texts ../shared/data/hs_codes/harmonized-system.csv --column description
    python benchmarks/bench_pretraining.py --quick     # a random tiny BERT, 2 steps: checks that it runs
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from common import emit_json, machine_info, print_table, quiet_libraries, ratio


def _texts(path: str | None, column: str, n: int) -> list[str]:
    if path is None:  # --quick: words enough for a tiny vocabulary
        return [f"{i} pallets of frozen fish for port {i % 7}" for i in range(n)]
    import pandas as pd

    texts = [str(t) for t in pd.read_csv(path)[column].dropna() if str(t).strip()]
    return texts[:n]


def _model_and_tokenizer(name: str | None, folder: str) -> tuple[Any, Any]:
    from transformers import AutoModelForMaskedLM, AutoTokenizer, BertConfig, BertForMaskedLM

    if name is not None:
        return AutoModelForMaskedLM.from_pretrained(name), AutoTokenizer.from_pretrained(name)
    from common import save_word_tokenizer

    vocabulary = Path(folder) / "tokenizer"
    vocabulary.mkdir(exist_ok=True)
    save_word_tokenizer(vocabulary, _texts(None, "", 64))
    tokenizer = AutoTokenizer.from_pretrained(vocabulary)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
    )
    return BertForMaskedLM(config), tokenizer


def train_steps(path: str, args: argparse.Namespace, batches: list[dict], folder: str) -> dict[str, Any]:
    """`steps` optimizer steps over the fixed `batches`; path "transformers" or "fieldtune"."""
    import torch
    from transformers import Trainer, TrainingArguments, set_seed

    from fieldtune.modeling.precision import resolve_precision
    from fieldtune.trainers.pretraining import MaskedLMTrainer

    class Replay(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return len(batches)

        def __getitem__(self, i: int) -> dict:
            return batches[i]

    class ModelsOwnLoss(MaskedLMTrainer):
        def compute_loss(
            self, model: Any, inputs: dict, return_outputs: bool = False, num_items_in_batch: Any = None
        ):
            return Trainer.compute_loss(self, model, inputs, return_outputs, num_items_in_batch)

    set_seed(0)
    model, tokenizer = _model_and_tokenizer(args.model, folder)
    precision = resolve_precision("auto", use_cpu=True)
    trainer_class = MaskedLMTrainer if path == "fieldtune" else ModelsOwnLoss
    trainer = trainer_class(
        model=model,
        args=TrainingArguments(
            output_dir=f"{folder}/{path}",
            max_steps=len(batches),
            per_device_train_batch_size=1,
            learning_rate=5e-5,
            logging_steps=1,
            save_strategy="no",
            report_to="none",
            use_cpu=True,
            bf16=precision == "bf16",
            disable_tqdm=True,
            remove_unused_columns=False,
            seed=0,
        ),  # fmt: skip
        train_dataset=Replay(),
        data_collator=lambda items: items[0],  # each item is a whole collated batch
    )
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    losses = [log["loss"] for log in trainer.state.log_history if "loss" in log]
    return {
        "steps_per_s": len(batches) / seconds,
        "seconds": seconds,
        "losses": losses,
        "precision": precision,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="sentence-transformers/all-mpnet-base-v2")
    parser.add_argument("--texts", help="a CSV of texts (default with --quick: generated ones)")
    parser.add_argument("--column", default="text")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--mlm-probability", type=float, default=0.15)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", dest="json_out")
    args = parser.parse_args()
    quiet_libraries()
    if args.quick:
        args.model, args.texts, args.steps, args.batch_size = None, None, 2, 4
    import torch

    from fieldtune.trainers.pretraining import MaskedLMCollator

    with tempfile.TemporaryDirectory() as folder:
        _, tokenizer = _model_and_tokenizer(args.model, folder)
        texts = _texts(args.texts, args.column, args.steps * args.batch_size)
        collate = MaskedLMCollator(tokenizer, args.mlm_probability)
        torch.manual_seed(0)
        batches = []
        for i in range(0, len(texts), args.batch_size):
            encoded = tokenizer(texts[i : i + args.batch_size], truncation=True, max_length=args.max_length)
            rows = [{k: encoded[k][j] for k in encoded} for j in range(len(encoded["input_ids"]))]
            batches.append(collate(rows))
        results = {path: train_steps(path, args, batches, folder) for path in ("transformers", "fieldtune")}
    peer, ours = results["transformers"], results["fieldtune"]
    difference = max(abs(a - b) for a, b in zip(peer["losses"], ours["losses"], strict=True))
    masked = sum(int((b["labels"] != -100).sum()) for b in batches)
    tokens = sum(int(b["attention_mask"].sum()) for b in batches)
    print_table(
        f"masked-LM steps, {args.model or 'tiny BERT'}, batch {args.batch_size}, max_length {args.max_length}, "
        f"{ours['precision']}, {len(batches)} steps ({masked} of {tokens} tokens masked)",
        ["steps/s", "seconds", "last loss"],
        [(p, [r["steps_per_s"], r["seconds"], r["losses"][-1]]) for p, r in results.items()],
    )
    speedup = ratio(ours["steps_per_s"], peer["steps_per_s"])
    print(
        f"fieldtune / transformers steps/s: {speedup:.2f}x; largest loss difference over the steps: {difference:.4f}"
    )
    emit_json(
        {"machine": machine_info(), "model": args.model, "steps": len(batches), "masked_tokens": masked,
         "tokens": tokens, "results": results, "speedup": speedup, "max_loss_difference": difference},
        args.json_out,
    )  # fmt: skip


if __name__ == "__main__":
    main()
