"""`gpu_check.json` (everything measured) and `gpu_check.md` (one table: a row per figure) of `gpu_check.py`."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from benchmarks.common import _fmt

COLUMNS = [
    "section",
    "status",
    "figure",
    "fieldtune",
    "peer / reference",
    "ratio",
    "target",
    "data / model",
    "s",
]


def write_outputs(result: dict[str, Any], out: Path) -> None:
    """Both files, each written whole to a temporary name and renamed: never half a file."""
    out.mkdir(parents=True, exist_ok=True)
    _write(out / "gpu_check.json", json.dumps(result, indent=2, sort_keys=True, default=str) + "\n")
    _write(out / "gpu_check.md", markdown(result))


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _get(body: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        body = body.get(key) if isinstance(body, dict) else None
    return body


def rows_of(name: str, body: dict[str, Any]) -> list[list[Any]]:
    """[figure, fieldtune, peer / reference, ratio, target] rows of one section's body."""
    if name == "text":
        return [
            ["train samples/s", _get(body, "fieldtune", "samples_per_s"), _get(body, "peer", "samples_per_s"),
             _x(body.get("speedup_samples_per_s")), ""],
            ["test accuracy", _get(body, "fieldtune", "accuracy"), _get(body, "peer", "accuracy"), "", ""],
            ["precision / attention", f"{_get(body, 'fieldtune', 'precision')} / {_get(body, 'fieldtune', 'attention')}",
             f"{_get(body, 'peer', 'precision')} / {_get(body, 'peer', 'attention')}", "", ""],
        ]  # fmt: skip
    if name == "images":
        meets = body.get("meets_target")
        return [
            ["backbone samples/s", _get(body, "fieldtune", "samples_per_s"), _get(body, "peer", "samples_per_s"),
             _x(body.get("speedup_samples_per_s")), f">= {body.get('target')}x: {'met' if meets else 'NOT met'}"],
            ["test accuracy", _get(body, "fieldtune", "accuracy"), _get(body, "peer", "accuracy"), "", "equal"],
            ["DataLoader workers", _get(body, "fieldtune", "dataloader_workers"),
             _get(body, "peer", "dataloader_workers"), "", ""],
        ]  # fmt: skip
    if name == "lora_memory":
        peak = body.get("peak_mb") or {}
        target = f"<= {body.get('target', 0):.0%}: {'met' if body.get('meets_target') else 'NOT met'}"
        return [
            [f"LoRA peak, {body.get('metric')}", peak.get("lora"), peak.get("full"), _x(body.get("ratio_lora")), target],
            ["LoRA + checkpointing peak", peak.get("lora+ckpt"), peak.get("full"), _x(body.get("ratio_lora_ckpt")), ""],
        ]  # fmt: skip
    if name == "probe":
        cached, frozen = (
            _get(body, "probe", "feature cache") or {},
            _get(body, "probe", "frozen backbone") or {},
        )
        return [
            ["probe train() s (cached vs frozen)", cached.get("train_s"), frozen.get("train_s"),
             _x(body.get("speedup_train")), ""],
            ["head test accuracy", cached.get("accuracy"), frozen.get("accuracy"), "", ""],
        ]  # fmt: skip
    if name == "multi_gpu":
        return [[f"{launch}: {r.get('status')}", r.get("seconds"), r.get("detail", ""), "", ""]
                for launch, r in (body.get("launches") or {}).items()]  # fmt: skip
    if name == "parity":
        return [[f"reload {run}: label agreement / max score diff", r.get("agreement"), r.get("max_score_diff"),
                 "", "ok" if r.get("ok") else f"NOT ok {r.get('error', '')[:120]}"]
                for run, r in (body.get("runs") or {}).items()]  # fmt: skip
    return []


def _x(value: Any) -> str:
    return f"{value:.2f}x" if isinstance(value, (int, float)) else "-"


def markdown(result: dict[str, Any]) -> str:
    machine = result.get("machine", {})
    gpus = ", ".join(machine.get("gpus") or []) or "no GPU"
    lines = [
        f"# gpu_check{' --quick' if result.get('quick') else ''}: {gpus}; {machine.get('cores')} CPU cores; "
        f"torch {result.get('versions', {}).get('torch')}, transformers {result.get('versions', {}).get('transformers')}",
        "",
        *([f"_{result['note']}_", ""] if result.get("note") else []),
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    for name, body in result.get("sections", {}).items():
        status, seconds = body.get("status"), body.get("seconds")
        about = "; ".join(str(body[k]) for k in ("data", "model") if body.get(k))
        rows = rows_of(name, body) if status == "ok" else []
        if not rows:
            why = body.get("skipped") or body.get("error") or ""
            rows = [[str(why).splitlines()[0][:200] if why else "", "", "", "", ""]]
        for i, row in enumerate(rows):
            cells = [name if i == 0 else "", status if i == 0 else "", *row, about if i == 0 else "",
                     seconds if i == 0 else ""]  # fmt: skip
            lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    lines += ["", f"Total: {result.get('total_s')} s. Every figure, with its settings: gpu_check.json.", ""]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else _fmt(value) if value is not None else "-"
    return text.replace("|", "/").replace("\n", " ")
