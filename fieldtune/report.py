"""Terminal output of results: a small aligned metrics table."""

from __future__ import annotations

from collections.abc import Sequence


def format_metrics(results: dict, title: str = "") -> str:
    metrics = {k: v for k, v in results.get("metrics", {}).items() if isinstance(v, (int, float))}
    lines = [title] if title else []
    width = max((len(k) for k in metrics), default=6)
    for k, v in metrics.items():
        star = " *" if k == results.get("primary_metric") else ""
        lines.append(f"  {k:<{width}}  {v:.4f}{star}")
    extra = [f"{k}={results[k]}" for k in ("method", "precision", "train_samples_per_s") if k in results]
    if extra:
        lines.append("  " + "  ".join(extra))
    return "\n".join(lines)


def print_metrics(results: dict, title: str = "") -> None:
    print(format_metrics(results, title))


def format_table(rows: Sequence[dict], columns: Sequence[str]) -> str:
    cells = [[str(c) for c in columns]] + [[_fmt(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in cells)


def _fmt(v: object) -> str:
    return f"{v:.4f}" if isinstance(v, float) else str(v)
