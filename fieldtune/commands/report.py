"""Terminal output of results: a small aligned metrics table."""

from __future__ import annotations


def format_metrics(results: dict, title: str = "") -> str:
    metrics = {k: v for k, v in results.get("metrics", {}).items() if isinstance(v, (int, float))}
    lines = [title] if title else []
    width = max((len(k) for k in metrics), default=6)
    ci = (results.get("confidence_intervals") or {}).get("metrics") or {}
    for k, v in metrics.items():
        star = " *" if k == results.get("primary_metric") else ""
        interval = f"  [{ci[k][0]:.4f}, {ci[k][1]:.4f}]" if k in ci else ""
        lines.append(f"  {k:<{width}}  {v:.4f}{interval}{star}")
    if ci:
        level = (results.get("confidence_intervals") or {}).get("level", 0.95)
        lines.append(
            f"  [ ]: {level:.0%} bootstrap interval over the {results.get('num_test_examples')} test examples"
        )
    extra = [f"{k}={results[k]}" for k in ("method", "precision", "train_samples_per_s") if k in results]
    if extra:
        lines.append("  " + "  ".join(extra))
    return "\n".join(lines)


def print_metrics(results: dict, title: str = "") -> None:
    print(format_metrics(results, title))
