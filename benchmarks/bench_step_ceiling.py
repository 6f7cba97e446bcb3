"""The most a faster pipeline could give on this machine: one image training step, no data loading at all.

For each backbone (random init from its config: only the arithmetic matters here), the peer's step (fp32,
transformers' default attention, contiguous input) and fieldtune's (bf16 autocast where `precision: auto` picks it, the
attention kernel `attn_implementation: auto` picks, channels-last input) train on the same in-memory
batch. The ratio of their samples/s bounds what any recipe of the *same method* can gain over the peer
here, since the peer's PIL pipeline is ~2% of its CPU step (`bench_images.py --profile`).

    OMP_NUM_THREADS=1 python benchmarks/bench_step_ceiling.py                  # vit-tiny, vit-base, mobilenet-v2
    OMP_NUM_THREADS=1 python benchmarks/bench_step_ceiling.py --quick          # 1 step each: checks that it runs
"""

from __future__ import annotations

import argparse
from typing import Any

from common import emit_json, machine_info, print_table, quiet_libraries, training_steps_per_s

BACKBONES = {
    "vit-tiny": ("ViTConfig", {"hidden_size": 192, "num_attention_heads": 3, "intermediate_size": 768}),
    "vit-base": ("ViTConfig", {}),
    "mobilenet-v2": ("MobileNetV2Config", {}),
}


def samples_per_s(
    name: str, precision: str, attention: str | None, channels_last: bool, batch: int, steps: int
) -> float:
    import torch
    import transformers

    config_class, kwargs = BACKBONES[name]
    config = getattr(transformers, config_class)(num_labels=3, **kwargs)
    if attention:
        config._attn_implementation = attention
    torch.manual_seed(0)
    model = transformers.AutoModelForImageClassification.from_config(config)
    x = torch.randn(batch, 3, 224, 224)  # the peer stacks contiguous NCHW tensors; fieldtune channels-last
    x = x.contiguous(memory_format=torch.channels_last) if channels_last else x
    inputs = {"pixel_values": x, "labels": torch.randint(0, 3, (batch,))}
    return batch * training_steps_per_s(model, inputs, precision, steps)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbones", nargs="+", default=list(BACKBONES), choices=list(BACKBONES))
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", dest="json_out")
    args = parser.parse_args(argv)
    quiet_libraries()
    from fieldtune.modeling.precision import resolve_attention, resolve_precision

    precision = resolve_precision("auto", use_cpu=True)
    attention = resolve_attention("auto", precision, use_cpu=True)
    steps = 1 if args.quick else args.steps
    rows, results = [], []
    for name in args.backbones:
        peer = samples_per_s(name, "fp32", None, False, args.batch, steps)
        ours = samples_per_s(name, precision, attention, True, args.batch, steps)
        rows.append((name, [peer, ours, ours / peer]))
        results.append({"backbone": name, "peer": peer, "fieldtune": ours})
    print_table(
        f"training samples/s, batch {args.batch}, no data pipeline",
        ["peer (fp32)", f"fieldtune ({precision}, {attention or 'default'} attention)", "ratio"],
        rows,
    )
    out = {"benchmark": "step-ceiling", "batch": args.batch, "results": results, "machine": machine_info()}
    emit_json(out, args.json_out)
    return out


if __name__ == "__main__":
    main()
