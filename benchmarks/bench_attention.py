"""Attention kernel: SDPA vs eager (matmul + softmax) for one BERT training step, in one process.

What `model.attn_implementation: auto` rests on: for every precision (fp32, and bf16 where the CPU has it),
token length and attention dropout asked for, the same MiniLM (hidden-state dropout 0, token table
frozen, as in the HS recipe) trains a few steps with each kernel on the same random batch; the script prints
samples/s of both and the ratio eager / sdpa. Synthetic token ids, so no data is needed; the batch has
padding (half the rows end 5 tokens early), so the attention mask is used as in real batches.

    python benchmarks/bench_attention.py                       # 31 and 128 tokens, dropout 0 and 0.1
    OMP_NUM_THREADS=1 python benchmarks/bench_attention.py --tokens 31 --batch 32 --json out/attn.json
    python benchmarks/bench_attention.py --quick               # 2 steps each: checks that it runs

`--bf16-residual` (what-if, not in fieldtune): the embeddings output is cast to bf16, so the residual
stream and the layer norms run in bf16 instead of fp32, with fewer casts around every projection.
"""

from __future__ import annotations

import argparse
from typing import Any

from common import emit_json, machine_info, print_table, quiet_libraries, training_steps_per_s


def steps_per_s(
    path: str,
    kernel: str,
    precision: str,
    tokens: int,
    batch: int,
    dropout: float,
    steps: int,
    bf16_residual: bool = False,
) -> float:
    import torch
    from transformers import AutoModelForSequenceClassification

    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(
        path,
        num_labels=21,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=dropout,
        attn_implementation=kernel,
    )
    model.get_input_embeddings().weight.requires_grad = False
    if bf16_residual:  # what-if: the residual stream (and so every layer norm) in bf16 instead of fp32
        model.base_model.embeddings.register_forward_hook(
            lambda _m, _i, out: out.to(torch.bfloat16) if torch.is_autocast_enabled("cpu") else out
        )
    ids = torch.randint(1000, 20000, (batch, tokens))
    mask = torch.ones(batch, tokens, dtype=torch.long)
    mask[: batch // 2, tokens - 5 :] = 0
    inputs = {"input_ids": ids, "attention_mask": mask, "labels": torch.randint(0, 21, (batch,))}
    # clipping as Trainer's max_grad_norm does; two warm-up steps
    return training_steps_per_s(model, inputs, precision, steps, warmup=2, max_grad_norm=1.0)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, nargs="+", default=[31, 128])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--dropout", type=float, nargs="+", default=[0.0, 0.1])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument(
        "--bf16-residual", action="store_true", help="what-if: cast the embeddings output to bf16 (bf16 only)"
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", dest="json_out")
    args = parser.parse_args(argv)
    quiet_libraries()
    from fieldtune.modeling.create import resolve_model_path
    from fieldtune.modeling.precision import cpu_has_fast_bf16

    path = resolve_model_path("sentence-transformers/all-MiniLM-L6-v2")
    precisions = ["fp32", "bf16"] if cpu_has_fast_bf16() else ["fp32"]
    if args.bf16_residual:
        precisions = ["bf16"]  # the cast only exists under bf16 autocast
    steps = 2 if args.quick else args.steps
    rows, results = [], []
    for precision in precisions:
        for tokens in [8] if args.quick else args.tokens:
            for dropout in args.dropout:
                rate = {
                    k: steps_per_s(path, k, precision, tokens, args.batch, dropout, steps, args.bf16_residual)
                    * args.batch
                    for k in ("sdpa", "eager")
                }
                label = f"{precision}, {tokens} tokens, attention dropout {dropout}"
                rows.append((label, [rate["sdpa"], rate["eager"], rate["eager"] / rate["sdpa"]]))
                results.append({"precision": precision, "tokens": tokens, "dropout": dropout, **rate})
    print_table(f"MiniLM training samples/s, batch {args.batch}", ["sdpa", "eager", "eager/sdpa"], rows)
    out = {
        "benchmark": "attention",
        "batch": args.batch,
        "bf16_residual": args.bf16_residual,
        "results": results,
        "machine": machine_info(),
    }
    emit_json(out, args.json_out)
    return out


if __name__ == "__main__":
    main()
