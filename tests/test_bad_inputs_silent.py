"""Bad inputs that were silently accepted (issue 29, items 8-10, and what an outside tester finds beside
them): a flag or a value that did nothing, a result that was wrong, or a user's file replaced, with exit 0. Each is now one line, exit 2, nothing written or touched. Same table
machinery as `tests/test_bad_inputs.py`."""

from __future__ import annotations

import json
import shutil

import pytest

from fieldtune.cli import main
from fieldtune.leaderboard.render import BOARD_FILES
from tests import test_bad_inputs as table
from tests.helpers import write_demand_csv
from tests.test_bad_inputs import Case, Ctx, _png, _recipe, _train

tiny_vit = table.tiny_vit  # module fixture, found by name


@pytest.fixture(scope="module")
def fitted_baseline(tiny_bert, tmp_path_factory):
    """A finished run (a baseline: seconds to fit) on generated orders, copied into the cases."""
    folder = tmp_path_factory.mktemp("fitted")
    ctx = Ctx(folder, tiny_bert, tiny_bert, None, None)
    assert main(["baseline", str(_recipe(ctx)), "--output-dir", str(folder / "run")]) == 0
    return folder / "run"


@pytest.fixture(scope="module")
def lora_run(tiny_bert, tmp_path_factory):
    """A finished LoRA run (one step): what `export --merge` merges."""
    folder = tmp_path_factory.mktemp("lora")
    ctx = Ctx(folder, tiny_bert, tiny_bert, None, None)
    argv = ["train", str(_recipe(ctx)), "--output-dir", str(folder / "run"), "--method.name=lora"]
    assert main(argv) == 0
    return folder / "run"


def _finished_run(ctx: Ctx, incomplete: bool = False) -> None:
    shutil.copytree(ctx.request.getfixturevalue("fitted_baseline"), ctx.run_dir)
    if incomplete:  # what a `--resume` that died leaves: the old results beside the marker
        (ctx.run_dir / ".incomplete").touch()


# --------------------------------------------------------------------------- several machines (item 8)


def s_num_machines_zero(ctx: Ctx) -> list[str]:
    return _train(ctx, None, "--num-machines", "0")


def s_machine_rank_alone(ctx: Ctx) -> list[str]:
    return _train(ctx, None, "--machine-rank", "3")


def s_main_process_ip_alone(ctx: Ctx) -> list[str]:
    return _train(ctx, None, "--main-process-ip", "10.0.0.1", "--main-process-port", "29600")


# --------------------------------------------------------------------------- unfinished runs (item 9)


def s_leaderboard_unfinished_run(ctx: Ctx) -> list[str]:
    _finished_run(ctx, incomplete=True)
    return ["leaderboard", str(ctx.run_dir)]


def s_leaderboard_results_of_unfinished_run(ctx: Ctx) -> list[str]:
    _finished_run(ctx, incomplete=True)
    return ["leaderboard", str(ctx.run_dir / "eval_results.json")]


def s_evaluate_unfinished_run(ctx: Ctx) -> list[str]:
    _finished_run(ctx, incomplete=True)
    return ["evaluate", str(ctx.run_dir)]


def s_predict_unfinished_run(ctx: Ctx) -> list[str]:
    _finished_run(ctx, incomplete=True)
    return ["predict", str(ctx.run_dir), "--text", "two pallets"]


def s_export_merge_unfinished_run(ctx: Ctx) -> list[str]:
    shutil.copytree(ctx.request.getfixturevalue("lora_run"), ctx.run_dir)
    (ctx.run_dir / ".incomplete").touch()  # the adapter of a run that died: merged and written, exit 0
    return ["export", str(ctx.run_dir), "--merge", "--out", str(ctx.tmp / "merged")]


def s_export_merge_run_without_model(ctx: Ctx) -> list[str]:
    _finished_run(ctx)
    shutil.rmtree(ctx.run_dir / "model")
    return ["export", str(ctx.run_dir), "--merge", "--out", str(ctx.tmp / "merged")]


# --------------------------------------------------------------------------- inputs that gave no result (item 10)


def s_predict_named_text_file_on_image_model(ctx: Ctx) -> list[str]:
    (ctx.tmp / "notes.txt").write_text("two pallets of cement\n")
    return ["predict", str(ctx.vit), "--input", str(ctx.tmp / "notes.txt")]


def s_predict_named_broken_image_on_image_model(ctx: Ctx) -> list[str]:
    image = _png(ctx.tmp / "scan.png")
    image.write_bytes(image.read_bytes()[:40])
    return ["predict", str(ctx.vit), "--input", str(image)]


def s_evaluate_split_data_lacks(ctx: Ctx) -> list[str]:
    _finished_run(ctx)
    data = write_demand_csv(ctx.tmp / "new_orders.csv", n=30)
    return ["evaluate", str(ctx.run_dir), "--data", str(data), "--split", "validation"]


def s_evaluate_split_typo(ctx: Ctx) -> list[str]:
    _finished_run(ctx)
    data = write_demand_csv(ctx.tmp / "new_orders.csv", n=30)
    return ["evaluate", str(ctx.run_dir), "--data", str(data), "--split", "tset"]


# --------------------------------------------------------------------------- a user's file replaced, a run ranked twice


def s_evaluate_output_exists(ctx: Ctx) -> list[str]:
    _finished_run(ctx)
    (ctx.run_dir / "notes.json").write_text('{"mine": true}')
    return ["evaluate", str(ctx.run_dir), "--output", str(ctx.run_dir / "notes.json")]


def s_evaluate_output_is_the_data(ctx: Ctx) -> list[str]:
    _finished_run(ctx)
    data = write_demand_csv(ctx.run_dir / "new_orders.csv", n=30)
    return ["evaluate", str(ctx.run_dir), "--data", str(data), "--output", str(data), "--overwrite"]


def s_leaderboard_output_holds_a_board(ctx: Ctx) -> list[str]:
    _finished_run(ctx)
    (ctx.run_dir / "board").mkdir()
    (ctx.run_dir / "board" / "leaderboard.md").write_text("# my own notes\n")
    return ["leaderboard", str(ctx.run_dir), "--output", str(ctx.run_dir / "board")]


def s_leaderboard_same_run_twice(ctx: Ctx) -> list[str]:
    _finished_run(ctx)
    return ["leaderboard", str(ctx.run_dir), str(ctx.run_dir / "eval_results.json")]


def s_data_out_not_csv(ctx: Ctx) -> list[str]:
    return ["data", "logistics_demand", "--out", str(ctx.tmp / "orders.jsonl")]


def s_predict_empty_text(ctx: Ctx) -> list[str]:
    _finished_run(ctx)
    return ["predict", str(ctx.run_dir), "--text", "  "]


CASES = [
    Case("train-num-machines-zero", s_num_machines_zero, ("--num-machines 0", "2 or more machines")),
    Case("train-machine-rank-alone", s_machine_rank_alone, ("--machine-rank 3", "without --num-machines", "drop the flag")),
    Case("train-main-process-ip-alone", s_main_process_ip_alone, ("--main-process-ip 10.0.0.1", "--main-process-port 29600", "without --num-machines")),
    Case("leaderboard-unfinished-run", s_leaderboard_unfinished_run, ("run", "unfinished run", "--resume"), existing=True),
    Case("leaderboard-results-of-unfinished-run", s_leaderboard_results_of_unfinished_run, ("run", "unfinished run", "--resume"), existing=True),
    Case("evaluate-unfinished-run", s_evaluate_unfinished_run, ("run", "unfinished run", "--resume"), existing=True),
    Case("predict-unfinished-run", s_predict_unfinished_run, ("run", "unfinished run", "--resume"), existing=True),
    Case("export-merge-unfinished-run", s_export_merge_unfinished_run, ("run", "unfinished run", "--resume"), existing=True),
    Case("export-merge-run-without-model", s_export_merge_run_without_model, ("run", "without a saved model", "re-train"), existing=True),
    Case("predict-named-text-file-on-image-model", s_predict_named_text_file_on_image_model, ("--input", "notes.txt", "not an image", "a folder of images")),
    Case("predict-named-broken-image-on-image-model", s_predict_named_broken_image_on_image_model, ("--input", "scan.png", "not an image that can be decoded")),
    Case("evaluate-split-data-lacks", s_evaluate_split_data_lacks, ("new_orders.csv", "no 'validation' split", "leave --split out", "--split all"), existing=True),
    Case("evaluate-split-typo", s_evaluate_split_typo, ("new_orders.csv", "no 'tset' split", "leave --split out"), existing=True),
    Case("evaluate-output-exists", s_evaluate_output_exists, ("--output", "notes.json", "already exists", "--overwrite"), existing=True),
    Case("evaluate-output-is-the-data", s_evaluate_output_is_the_data, ("--output", "new_orders.csv", "is the input", "another file"), existing=True),
    Case("leaderboard-output-holds-a-board", s_leaderboard_output_holds_a_board, ("--output", "leaderboard.md", "already exists", "--overwrite"), existing=True),
    Case("leaderboard-same-run-twice", s_leaderboard_same_run_twice, ("eval_results.json", "same run", "list each run once"), existing=True),
    Case("data-out-not-csv", s_data_out_not_csv, ("--out", "orders.jsonl", "written as CSV", ".csv")),
    Case("predict-empty-text", s_predict_empty_text, ("--text is empty",), existing=True),
]  # fmt: skip


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=c.marks) for c in CASES])
def test_silently_accepted_input_is_one_line_exit_2(
    case: Case, tmp_path, tiny_bert, tiny_vit, request, monkeypatch, capsys
):
    table.run_case(case, Ctx(tmp_path, tiny_bert, tiny_vit, request, monkeypatch), capsys)


def test_evaluate_whole_data_with_default_or_all_split_scores_every_row(tmp_path, tiny_bert, request, capsys):
    """The other side of `evaluate-split-data-lacks`: new data with no splits of its own is scored whole
    under the default `--split test` and under `--split all`."""
    ctx = Ctx(tmp_path, tiny_bert, tiny_bert, request, None)
    _finished_run(ctx)
    data = write_demand_csv(tmp_path / "new_orders.csv", n=30)
    for split in ([], ["--split", "all"], ["--split", "test"]):
        capsys.readouterr()
        assert main(["evaluate", str(ctx.run_dir), "--data", str(data), *split]) == 0
        assert "Scored 30 examples." in capsys.readouterr().out


def test_overwrite_replaces_an_evaluate_output_and_a_board(tmp_path, tiny_bert, request, capsys):
    """The other side of `evaluate-output-exists` / `leaderboard-output-holds-a-board`: named and asked."""
    ctx = Ctx(tmp_path, tiny_bert, tiny_bert, request, None)
    _finished_run(ctx)
    out, board = tmp_path / "results.json", tmp_path / "board"
    out.write_text("{}")
    assert main(["evaluate", str(ctx.run_dir), "--output", str(out), "--overwrite"]) == 0
    assert json.loads(out.read_text())["split"] == "test"
    assert main(["leaderboard", str(ctx.run_dir), "--output", str(board)]) == 0
    assert main(["leaderboard", str(ctx.run_dir), "--output", str(board), "--overwrite"]) == 0
    assert sorted(p.name for p in board.iterdir()) == sorted(BOARD_FILES)
