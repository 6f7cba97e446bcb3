"""Multi-label runs on the leaderboard: their own board ranked by macro-F1, Hamming loss lower-is-better."""

from __future__ import annotations

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from fieldtune.leaderboard import group_and_rank, render_terminal, write_outputs
from fieldtune.leaderboard.collect import entries_from_card, entry_from_results, metric_greater_is_better

from .conftest import eval_results


def tag_results(model: str, f1: float, hamming: float) -> dict:
    metrics = {"f1_macro": f1, "f1_micro": f1 + 0.02, "subset_accuracy": 0.5, "hamming_loss": hamming}
    return eval_results(model, task="text-multilabel", metrics=metrics)


def pushed_card(f1: float, hamming: float) -> str:
    """A card as fieldtune writes it for a multi-label run: model-index type text-classification, name the task."""
    results = [
        EvalResult(task_type="text-classification", task_name="text-multilabel", dataset_type="logistics_demand",
                   dataset_name="logistics_demand", dataset_split="test", metric_type=name, metric_value=value)
        for name, value in (("f1_macro", f1), ("hamming_loss", hamming))
    ]  # fmt: skip
    return str(ModelCard.from_template(ModelCardData(model_name="m", eval_results=results)))


def test_multilabel_runs_rank_on_their_own_board_by_macro_f1():
    entries = [
        entry_from_results(eval_results("runs/single", f1=0.99), source="run"),
        entry_from_results(tag_results("runs/tags-a", 0.70, hamming=0.05), source="run"),
        entry_from_results(tag_results("runs/tags-b", 0.90, hamming=0.10), source="run"),
        *entries_from_card("org/tags-hub", pushed_card(0.80, 0.08)),
    ]
    boards = {board.task: board for board in group_and_rank(entries)}
    assert set(boards) == {"text-classification", "text-multilabel"}
    tags = boards["text-multilabel"]
    assert (tags.primary_metric, tags.direction) == ("f1_macro", "higher")
    assert [row.entry.model for row in tags.rows] == ["runs/tags-b", "org/tags-hub", "runs/tags-a"]
    assert [row.entry.model for row in boards["text-classification"].rows] == ["runs/single"]
    assert tags.lower_is_better == ["hamming_loss"] and boards["text-classification"].lower_is_better == []


def test_hamming_loss_is_lower_is_better_wherever_direction_matters(tmp_path):
    assert not metric_greater_is_better("hamming_loss") and metric_greater_is_better("subset_accuracy")
    # a card with Hamming loss alone: the board ranks by it, smallest first
    entries = [
        *entries_from_card("org/a", pushed_card(0.5, 0.2)),
        *entries_from_card("org/b", pushed_card(0.6, 0.1)),
    ]
    for entry in entries:
        del entry.metrics["f1_macro"]
        entry.primary_metric, entry.greater_is_better = "hamming_loss", False
    [board] = group_and_rank(entries)
    assert [row.entry.model for row in board.rows] == ["org/b", "org/a"]

    boards = group_and_rank([entry_from_results(tag_results("runs/t", 0.9, 0.1), source="run")])
    heading = render_terminal(boards).splitlines()[0]
    assert heading.endswith("ranked by f1_macro (higher is better); lower is better also for hamming_loss")
    paths = write_outputs(boards, tmp_path)
    assert "Lower is better also for `hamming_loss`." in paths["md"].read_text()
    html = paths["html"].read_text()
    assert 'data-key="hamming_loss" data-type="number" class="num" data-better="lower"' in html
    assert 'data-key="f1_macro" data-type="number" class="num primary" data-better="higher"' in html
