"""`precision: auto`: bf16 where the hardware runs it fast, fp32 otherwise (recorded in the run); and the
attention kernel that is fast at that precision."""

from __future__ import annotations

from pathlib import Path

import torch

from fieldtune.errors import ConfigError


def cpu_has_fast_bf16() -> bool:
    """True on CPUs with AMX or AVX512-BF16; without them bf16 matmuls are emulated and slower than fp32."""
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:  # not Linux: ask oneDNN
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return "amx_bf16" in flags or "avx512_bf16" in flags


def resolve_precision(requested: str, use_cpu: bool = False) -> str:
    """'auto' | 'bf16' | 'fp16' | 'fp32' -> the precision actually used on this machine.

    On CUDA, auto is bf16 where the GPU supports it (Ampere and newer), else fp16, which the Trainer runs
    with a gradient scaler (fp16's narrow range would underflow small gradients without it)."""
    cuda = torch.cuda.is_available() and not use_cpu
    if requested == "auto":
        if cuda:
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return "bf16" if cpu_has_fast_bf16() else "fp32"
    if requested == "fp16" and not cuda:
        raise ConfigError("`training.precision: fp16` needs a CUDA GPU; use auto, bf16 or fp32 on a CPU.")
    if requested == "bf16" and cuda and not torch.cuda.is_bf16_supported():
        raise ConfigError(
            f"`training.precision: bf16`: this GPU ({torch.cuda.get_device_name()}) has no bf16; use fp16 "
            "(with a gradient scaler) or auto."
        )
    return requested


def resolve_attention(requested: str, precision: str, use_cpu: bool) -> str | None:
    """`model.attn_implementation` -> what `from_pretrained` gets (None: transformers' default, `sdpa`
    where the model has it). auto picks `eager` for bf16 on a CPU: there torch 2.13's SDPA kernels trained
    MiniLM 1.1-1.6x slower than matmul + softmax at 31-128 tokens (in fp32 the two are within 3%)."""
    if requested != "auto":
        return requested
    cpu = use_cpu or not torch.cuda.is_available()
    return "eager" if cpu and precision == "bf16" else None
