"""Where training time goes: torch.profiler self time by operator family (matmul, casts, optimizer, norms /
activations, augmentation, outside operators), around every outermost `Trainer.train()`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

# Operator families for `op_profile`: aten operator names (without `aten::`) by prefix; first match wins.
OP_FAMILIES = (
    ("matmul / convolution", ("mm", "addmm", "bmm", "baddbmm", "_scaled_dot_product", "mkldnn", "_mkldnn",
                              "convolution", "_convolution", "conv", "_slow_conv", "thnn_conv")),
    ("bf16 casts and copies", ("_to_copy", "copy_", "_copy_from", "clone", "contiguous")),
    ("optimizer (AdamW)", ("_foreach_", "_fused_adam", "addcdiv", "lerp")),
    ("norms, activations, dropout", ("_softmax", "softmax", "native_layer_norm", "gelu", "native_dropout",
                                     "native_batch_norm", "_batch_norm", "batch_norm", "hardtanh", "relu",
                                     "clamp")),
    ("image augmentation (resize, flips)", ("upsample", "_upsample", "flip", "rot90", "grid_sampler")),
    ("embeddings, loss", ("embedding", "nll_loss", "_log_softmax", "cross_entropy")),
)  # fmt: skip
TOP_OPS = 12  # the costliest single operators, listed after the families


def _family(op: str) -> str:
    name = op.removeprefix("aten::")
    for family, prefixes in OP_FAMILIES:
        if name.startswith(prefixes):
            return family
    return "other element-wise / reductions"


@dataclass
class OpProfile:
    """Seconds of profiled wall time, by operator family, and the costliest single operators."""

    wall: float = 0.0
    families: dict[str, float] = field(default_factory=dict)
    top: dict[str, float] = field(default_factory=dict)

    def add(self, other: OpProfile) -> None:
        """Sum another call's figures into this one (top operators: those of the longer call)."""
        if other.wall > self.wall:
            self.top = dict(other.top)
        self.wall += other.wall
        for family, seconds in other.families.items():
            self.families[family] = self.families.get(family, 0.0) + seconds


@contextlib.contextmanager
def op_profile() -> Iterator[OpProfile]:
    """Where the enclosed code's wall time goes, in seconds by operator family (torch.profiler, CPU).

    Leaf operators only (self time), so nothing is counted twice; "outside operators" is wall time
    minus all of it: Python, the Trainer's bookkeeping, data collation, the profiler's own overhead.
    """
    from torch.profiler import ProfilerActivity, profile

    result = OpProfile()
    start = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        yield result
    result.wall = time.perf_counter() - start
    events = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)
    for event in events:
        family = _family(event.key)
        result.families[family] = result.families.get(family, 0.0) + event.self_cpu_time_total / 1e6
    result.top = {e.key: e.self_cpu_time_total / 1e6 for e in events[:TOP_OPS]}
    spent = sum(result.families.values())
    result.families["outside operators (Python, collation, Trainer)"] = max(0.0, result.wall - spent)


@contextlib.contextmanager
def profile_train(enabled: bool = True) -> Iterator[OpProfile]:
    """Inside the block, every outermost `transformers.Trainer.train()` runs under `op_profile`; their
    figures are summed into the yielded `OpProfile` (left empty when not `enabled`)."""
    from transformers import Trainer

    total = OpProfile()
    if not enabled:
        yield total
        return
    original = Trainer.train
    depth = 0

    def train(self: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal depth
        if depth:  # a phase inside an outer train(): already profiled
            return original(self, *args, **kwargs)
        depth += 1
        try:
            with op_profile() as measured:
                return original(self, *args, **kwargs)
        finally:
            depth -= 1
            total.add(measured)

    Trainer.train = train  # type: ignore[method-assign]
    try:
        yield total
    finally:
        Trainer.train = original  # type: ignore[method-assign]


def print_profile(profile: OpProfile, title: str) -> None:
    """Seconds and share of the profiled wall time per operator family, largest first."""
    wall = profile.wall or 1e-9
    print(f"\n== where train() time goes: {title} ({profile.wall:.1f} s profiled)")
    for family, seconds in sorted(profile.families.items(), key=lambda kv: -kv[1]):
        print(f"  {family:<48} {seconds:8.2f} s  {100 * seconds / wall:5.1f}%")
    print("  top operators (self time):")
    for op, seconds in profile.top.items():
        print(f"    {op:<46} {seconds:8.2f} s  {100 * seconds / wall:5.1f}%  [{_family(op)}]")
