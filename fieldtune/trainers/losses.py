"""The training losses fieldtune computes itself, when the recipe asks for more than the head's own loss:
class weights, label smoothing (`training.label_smoothing_factor`) and R-Drop (`training.r_drop`).

transformers' `LabelSmoother` is bypassed: it knows no class weights, and it switches itself off for label
sets with a warning. Here one function serves every case:
- classes: `torch.nn.functional.cross_entropy(weight=, label_smoothing=)`: with weight w and smoothing e,
  -sum_i w_yi ((1 - e) log p_i,yi + e/C sum_c w_c/w_yi log p_i,c) / sum_i w_yi (torch's definition);
- tags: each 0/1 target is smoothed towards 1/2 (y (1 - e) + e / 2) before the per-label BCE (positive
  weights per label);
- numbers: MSE (Mixup's lam-weighted pair of MSE losses is the MSE to the mixed target plus a constant);
- R-Drop (Liang et al., 2021, "R-Drop: Regularized Dropout for Neural Networks"): two forward passes of
  the same batch with different dropout masks, the mean of their losses plus alpha times the symmetric KL
  divergence of their predicted distributions (classes only: the rule sits in config/rules.py).
"""

from __future__ import annotations

import torch
from torch import nn


def target_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    weight: torch.Tensor | None = None,
    smoothing: float = 0.0,
) -> torch.Tensor:
    """Cross-entropy (class ids), per-label BCE (multi-hot label sets, shaped like `logits`) or MSE (numbers:
    float labels, one output), in fp32: the labels' kind picks the loss, as the task's `Targets` built them."""
    logits = logits.float()
    if labels.dtype.is_floating_point and labels.shape == logits.shape:  # tags
        targets = labels * (1.0 - smoothing) + smoothing / 2 if smoothing else labels
        return nn.functional.binary_cross_entropy_with_logits(logits, targets, pos_weight=weight)
    if labels.dtype.is_floating_point:  # numbers (regression): no class weights or smoothing (config rules)
        return nn.functional.mse_loss(logits.view(-1), labels.float().view(-1))
    return nn.functional.cross_entropy(
        logits.view(-1, logits.shape[-1]), labels.view(-1), weight=weight, label_smoothing=smoothing
    )


def symmetric_kl(logits_a: torch.Tensor, logits_b: torch.Tensor) -> torch.Tensor:
    """(KL(p_a || p_b) + KL(p_b || p_a)) / 2 of the two softmax distributions, averaged over the batch."""
    log_a = nn.functional.log_softmax(logits_a.float(), dim=-1)
    log_b = nn.functional.log_softmax(logits_b.float(), dim=-1)
    kl_ab = nn.functional.kl_div(log_b, log_a, reduction="batchmean", log_target=True)  # KL(a || b)
    kl_ba = nn.functional.kl_div(log_a, log_b, reduction="batchmean", log_target=True)
    return (kl_ab + kl_ba) / 2
