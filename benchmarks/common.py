"""Shared pieces of the benchmarks: matmul peak, FLOP counts, peak RSS, timing, Trainer instrumentation,
a plain timed training loop, and result printing (an aligned table, explicit ratios, one JSON line).
Operator profiles are in `profiling.py`.

Run from the repository root (the scripts chdir there themselves).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import platform
import re
import resource
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python benchmarks/x.py` puts benchmarks/ on the path, not the repo root
    sys.path.insert(0, str(ROOT))


# --------------------------------------------------------------------------- hardware


def _device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _sync(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def measure_matmul_peak(dtype: Any, n: int | None = None, reps: int = 3, target_s: float = 0.4) -> float:
    """GFLOP/s of an n x n @ n x n matmul in `dtype` (torch dtype or 'fp32' / 'bf16'), best of `reps`.

    Measured in this process, with its thread settings. Without `n`, the side is chosen so that one
    matmul takes about `target_s` (bf16 emulated on an AVX2 CPU is ~50x slower than fp32: a fixed large
    side would take minutes there), between 512 and 4096.
    """
    import torch

    if isinstance(dtype, str):
        dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[dtype]
    device = _device()

    def once(side: int) -> float:
        a = torch.randn(side, side, device=device).to(dtype)
        b = torch.randn(side, side, device=device).to(dtype)
        _sync(device)
        start = time.perf_counter()
        torch.matmul(a, b)
        _sync(device)
        return time.perf_counter() - start

    if n is None:
        once(256)  # warm-up: thread pool, kernel selection
        probe = 512
        rate = 2 * probe**3 / max(once(probe), 1e-6)  # FLOP/s estimate
        n = int((target_s * rate / 2) ** (1 / 3)) // 256 * 256
        n = max(512, min(4096, n))
    once(n)  # warm-up at the measured size
    best = min(once(n) for _ in range(max(1, reps)))
    return 2 * n**3 / best / 1e9


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB (ru_maxrss: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def cuda_memory_mb(peak: bool = False) -> float | None:
    """GPU memory held by tensors of this process in MiB (`peak`: the most since the start); None without CUDA."""
    import torch

    if not torch.cuda.is_available():
        return None
    return (torch.cuda.max_memory_allocated() if peak else torch.cuda.memory_allocated()) / 2**20


def machine_info() -> dict[str, Any]:
    import torch

    flags: set[str] = set()
    with contextlib.suppress(OSError):
        flags = set(Path("/proc/cpuinfo").read_text().split())
    isa = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in flags]
    return {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "isa": isa,
        "device": _device(),
        "gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
        "torch": torch.__version__,
        "load_avg_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
    }


def save_word_tokenizer(folder: Path, texts: Iterable[str]) -> list[str]:
    """A lower-cased WordPiece tokenizer over every word, number and punctuation mark of `texts` (plus
    BERT's special tokens and single characters), saved in `folder` with its `vocab.txt`: the stand-in
    where no pretrained tokenizer can be had (a GPU machine without the MiniLM package). Returns the vocab."""
    import string

    from transformers import BertTokenizerFast

    words = set(string.ascii_lowercase + string.digits)
    for text in texts:
        words.update(re.findall(r"[a-z]+|[0-9]+|[^\sa-z0-9]", text.lower()))
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *sorted(words)]
    # transformers 5 builds the fast tokenizer from `vocab` itself (a `vocab_file` alone gives all [UNK])
    tokenizer = BertTokenizerFast(vocab={w: i for i, w in enumerate(vocab)}, do_lower_case=True)
    tokenizer.model_max_length = 512
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(folder)
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    return vocab


# --------------------------------------------------------------------------- FLOPs


def non_embedding_params_text(config: Any) -> int:
    """Parameters of a BERT-like encoder outside its embeddings: per layer Q, K, V, O (4h^2 + 4h),
    the MLP (2hI + I + h) and two LayerNorms (4h); plus the pooler (h^2 + h) and the classifier."""
    h, inter = config.hidden_size, config.intermediate_size
    per_layer = 4 * h * h + 4 * h + 2 * h * inter + inter + h + 4 * h
    labels = getattr(config, "num_labels", 2)
    return config.num_hidden_layers * per_layer + h * h + h + h * labels + labels


def model_flops_per_sample_text(config: Any, seq_len: int) -> float:
    """Training FLOPs (forward + backward) of one sequence of `seq_len` tokens through a BERT-like encoder.

    6 * N * T for the dense layers (N = non-embedding parameters: 2 FLOPs per multiply-add forward, twice
    that backward) plus the attention scores and weighted sum, which no parameter counts:
    QK^T and AV are 2 * T^2 * h multiply-adds per layer -> 4 T^2 h FLOPs forward, x3 for training =
    12 * L * h * T^2. Embedding look-ups are not FLOPs. (Kaplan et al. 2020; PaLM appendix B.)
    """
    n = non_embedding_params_text(config)
    return 6.0 * n * seq_len + 12.0 * config.num_hidden_layers * config.hidden_size * seq_len**2


# --------------------------------------------------------------------------- timing / instrumentation


class Timer:
    """`with Timer() as t: ...` then `t.seconds` (perf_counter wall time)."""

    def __init__(self) -> None:
        self.start = 0.0
        self.seconds = 0.0

    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start


def training_steps_per_s(
    model: Any,
    inputs: dict[str, Any],
    precision: str,
    steps: int,
    warmup: int = 1,
    max_grad_norm: float | None = None,
) -> float:
    """A plain training loop on one in-memory batch (no Trainer, no data): fused AdamW on the trainable
    parameters, bf16 autocast when `precision` is bf16, optional clipping. Returns steps per second after
    `warmup` steps (oneDNN builds its kernels on the first calls)."""
    import torch

    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4, fused=True)

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            loss = model(**inputs).loss
        loss.backward()
        if max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(warmup):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return steps / (time.perf_counter() - start)


@dataclass
class TrainProbe:
    """What one training run did, recorded from inside `transformers.Trainer`."""

    batches: list[tuple[int, int]] = field(default_factory=list)  # (batch size, padded length) per step
    real_tokens: int = 0  # attention-mask ones (text)
    head_only_samples: int = 0  # steps on cached features (fieldtune's probe), not through the backbone
    train_s: float = 0.0  # wall time of the outermost `train()` call (all phases, saves, evaluations)
    rss_before_train_mb: float = 0.0  # peak at entry of train(): data preparation and model loading
    rss_after_train_mb: float = 0.0
    cuda_before_train_mb: float | None = None  # torch.cuda.memory_allocated at entry of train() (weights)
    cuda_peak_mb: float | None = None  # torch.cuda.max_memory_allocated when train() returns
    _depth: int = 0

    @property
    def samples(self) -> int:
        return sum(b for b, _ in self.batches)

    @property
    def tokens(self) -> int:
        return sum(b * n for b, n in self.batches)


@contextlib.contextmanager
def instrument(extra_classes: Sequence[type] = ()) -> Iterator[TrainProbe]:
    """Record every training step's input shape and the outermost `train()` wall time, for any Trainer.

    `transformers.Trainer.train` and `training_step` are wrapped for the duration; `extra_classes` are
    subclasses that override `train` themselves (fieldtune's VisionTrainer runs phase 1 before calling
    `super().train()`), so their whole `train()` is the one timed. Nested calls count once.
    """
    from transformers import Trainer

    probe = TrainProbe()
    patched: list[tuple[type, str, Any]] = []

    def wrap_train(original: Any) -> Any:
        @functools.wraps(original)
        def train(self: Any, *args: Any, **kwargs: Any) -> Any:
            if probe._depth == 0 and not probe.rss_before_train_mb:
                probe.rss_before_train_mb = peak_rss_mb()
                probe.cuda_before_train_mb = cuda_memory_mb()
            probe._depth += 1
            start = time.perf_counter()
            try:
                return original(self, *args, **kwargs)
            finally:
                probe._depth -= 1
                if probe._depth == 0:
                    probe.train_s += time.perf_counter() - start
                    probe.rss_after_train_mb = peak_rss_mb()
                    probe.cuda_peak_mb = cuda_memory_mb(peak=True)

        return train

    def wrap_step(original: Any) -> Any:
        @functools.wraps(original)
        def training_step(self: Any, model: Any, inputs: dict, *args: Any, **kwargs: Any) -> Any:
            if "input_ids" in inputs:  # text: (batch, padded length)
                probe.batches.append(tuple(int(d) for d in inputs["input_ids"].shape[:2]))
            elif "features" in inputs:  # fieldtune's head trained on cached features: no backbone
                probe.head_only_samples += int(inputs["features"].shape[0])
            elif "pixel_values" in inputs:  # images: batch size only
                probe.batches.append((int(inputs["pixel_values"].shape[0]), 0))
            if "attention_mask" in inputs:
                probe.real_tokens += int(inputs["attention_mask"].sum())
            return original(self, model, inputs, *args, **kwargs)

        return training_step

    targets = [(Trainer, "train", wrap_train), (Trainer, "training_step", wrap_step)]
    targets += [(cls, "train", wrap_train) for cls in extra_classes if "train" in cls.__dict__]
    for cls, name, wrapper in targets:
        original = cls.__dict__[name]
        patched.append((cls, name, original))
        setattr(cls, name, wrapper(original))
    try:
        yield probe
    finally:
        for cls, name, original in reversed(patched):
            setattr(cls, name, original)


def macro_f1_present(y_true: Sequence[int], y_pred: Sequence[int]) -> tuple[float, float]:
    """(accuracy, macro F1 over the classes present in `y_true`): fieldtune's definition, for the peers."""
    import numpy as np
    from sklearn.metrics import accuracy_score, f1_score

    labels = np.unique(np.asarray(y_true))
    return float(accuracy_score(y_true, y_pred)), float(
        f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)
    )


# --------------------------------------------------------------------------- printing


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
            return f"{value:.3e}"
        return f"{value:.4g}" if abs(value) < 10 else f"{value:,.1f}"
    return str(value)


def print_table(title: str, columns: Sequence[str], rows: Sequence[tuple[str, Sequence[Any]]]) -> None:
    """A small aligned table: one row per metric, one column per contender."""
    cells = [[name, *(_fmt(v) for v in values)] for name, values in rows]
    header = ["", *columns]
    widths = [max(len(r[i]) for r in [header, *cells]) for i in range(len(header))]
    print(f"\n== {title}")
    for row in [header, *cells]:
        print(
            "  ".join(
                c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


def print_ratio(label: str, value: float | None, what: str) -> None:
    """`speed-up fieldtune/peer = 8.3x (train samples/s)`."""
    shown = f"{value:.2f}x" if value is not None else "n/a"
    print(f"{label} = {shown} ({what})")


def emit_json(result: dict[str, Any], out: str | Path | None) -> None:
    """One `RESULT_JSON {...}` line on stdout; the same object written to `out` when given."""
    text = json.dumps(result, sort_keys=True, default=str)
    print(f"RESULT_JSON {text}")
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(result, indent=2, sort_keys=True, default=str) + "\n")


def quiet_libraries() -> None:
    """Keep the benchmark output readable: transformers / datasets at warning level, no progress bars."""
    import datasets
    import transformers

    transformers.logging.set_verbosity_warning()
    datasets.logging.set_verbosity_warning()
    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def metric_cell(results: dict[str, Any], name: str) -> str:
    """One metric of an eval_results.json as a table cell, with its bootstrap interval where there is one."""
    value = results["metrics"].get(name)
    ci = (results.get("confidence_intervals") or {}).get("metrics", {}).get(name)
    if value is None:
        return "-"
    return f"{value:.4f} [{ci[0]:.4f}, {ci[1]:.4f}]" if ci else f"{value:.4f}"


def paired_difference(a: Path, b: Path, metric: str) -> dict[str, Any] | None:
    """Paired bootstrap of metric(a) - metric(b) on their matched predictions.csv rows (the board's test)."""
    from fieldtune.leaderboard.ties import _read, compare

    return compare(_read(a / "predictions.csv"), _read(b / "predictions.csv"), "classes", metric)
