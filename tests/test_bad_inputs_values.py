"""Bad inputs caught up front (issue 17, items 3 and 6-8): predict inputs that are meant as paths, seeds and
counts, `model.max_length`, repeated columns and keys, broken JSONL lines, non-UTF-8 inputs, model folders
without a tokenizer / image processor, arguments of every verb checked before a model loads, and messages
that name the flag the user typed. Same table machinery as `tests/test_bad_inputs.py`; the inputs that are
*not* failures (free text, evaluation-only folders, silenced library warnings) are tested at the end."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import pytest

from fieldtune.cli import main
from tests import test_bad_inputs as table
from tests import test_bad_inputs_files as files
from tests.helpers import write_demand_csv
from tests.test_bad_inputs import Case, Ctx, _fake_run, _orders, _orders_frame, _recipe, _text_with, _train

tiny_vit, tiny_classifier = table.tiny_vit, files.tiny_classifier  # module fixtures, found by name
_classifier, _real_run = files._classifier, files._real_run


def _predict(ctx: Ctx, *extra: str) -> list[str]:
    return ["predict", str(_classifier(ctx)), *extra]


# --------------------------------------------------------------------------- 3. predict --input


def s_predict_input_missing_path(ctx: Ctx) -> list[str]:
    return _predict(ctx, "--input", str(ctx.tmp / "notes" / "orders.csv"))


def s_predict_input_missing_file(ctx: Ctx) -> list[str]:
    return _predict(ctx, "--input", "todays_orders.csv")


def s_predict_input_missing_image(ctx: Ctx) -> list[str]:
    return _predict(ctx, "--input", "pallet_photo.jpg")


def s_predict_input_glob_no_match(ctx: Ctx) -> list[str]:
    return _predict(ctx, "--input", str(ctx.tmp / "photos" / "*.png"))


def s_predict_input_and_text(ctx: Ctx) -> list[str]:
    return _predict(ctx, "--input", "a.csv", "--text", "two pallets")


def s_predict_top_k_zero(ctx: Ctx) -> list[str]:
    return _predict(ctx, "--text", "two pallets", "--top-k", "0")


def s_predict_output_unknown_suffix(ctx: Ctx) -> list[str]:
    return _predict(ctx, "--text", "two pallets", "--output", str(ctx.tmp / "preds.xlsx"))


def s_predict_txt_not_utf8(ctx: Ctx) -> list[str]:
    (ctx.tmp / "notes.txt").write_bytes("Mineralwasser für Café\n".encode("latin-1"))
    return _predict(ctx, "--input", str(ctx.tmp / "notes.txt"))


def s_predict_model_without_tokenizer(ctx: Ctx) -> list[str]:
    model = ctx.tmp / "no-tokenizer"
    model.mkdir()
    for f in ("config.json", "model.safetensors"):
        shutil.copy(_classifier(ctx) / f, model / f)
    return ["predict", str(model), "--text", "two pallets"]


def s_predict_input_symlink_loop(ctx: Ctx) -> list[str]:
    (ctx.tmp / "orders.csv").symlink_to(ctx.tmp / "orders.csv")
    return _predict(ctx, "--input", str(ctx.tmp / "orders.csv"))


# --------------------------------------------------------------------------- 6. values checked up front


def s_training_seed_negative(ctx: Ctx) -> list[str]:
    return _text_with(ctx, "--training.seed=-1")


def s_data_seed_negative(ctx: Ctx) -> list[str]:
    return _text_with(ctx, "--data.seed=-3")


def s_training_seed_too_large(ctx: Ctx) -> list[str]:
    return _text_with(ctx, f"--training.seed={2**32}")


def s_data_cli_seed_negative(ctx: Ctx) -> list[str]:
    return ["data", "logistics_demand", "--out", str(ctx.tmp / "o.csv"), "--seed", "-1"]


def s_data_num_samples_zero(ctx: Ctx) -> list[str]:
    return ["data", "logistics_demand", "--out", str(ctx.tmp / "o.csv"), "--num-samples", "0"]


def s_data_num_samples_negative(ctx: Ctx) -> list[str]:
    return ["data", "geology_images", "--out", str(ctx.tmp / "rocks"), "--num-samples", "-5"]


def s_max_length_over_positions(ctx: Ctx) -> list[str]:
    return _text_with(ctx, "--model.max_length=512")  # the tiny BERT has 128 positions


def s_max_length_one(ctx: Ctx) -> list[str]:
    return _text_with(ctx, "--model.max_length=1")  # [CLS] and [SEP] alone do not fit


def s_max_length_two(ctx: Ctx) -> list[str]:
    return _text_with(ctx, "--model.max_length=2")  # [CLS] [SEP]: every text truncated to nothing


def s_max_length_zero(ctx: Ctx) -> list[str]:
    return _text_with(ctx, "--model.max_length=0")


def s_lora_target_modules_empty(ctx: Ctx) -> list[str]:
    return _text_with(ctx, "--method.name=lora", "--method.target_modules=[]")


def s_max_length_over_offset_positions(ctx: Ctx) -> list[str]:
    """MPNet numbers positions from padding_idx + 1 = 2, as RoBERTa does: 66 position rows hold 64 tokens."""
    from transformers import MPNetConfig, MPNetModel

    model = ctx.tmp / "tiny-mpnet"
    vocab = json.loads((ctx.bert / "config.json").read_text())["vocab_size"]
    MPNetModel(MPNetConfig(vocab_size=vocab, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                           intermediate_size=16, max_position_embeddings=66)).save_pretrained(model)  # fmt: skip
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(ctx.bert / f, model / f)
    return _text_with(ctx, f"--model.name_or_path={model}", "--model.max_length=65")


def s_duplicate_columns(ctx: Ctx) -> list[str]:
    df = _orders_frame(60)
    df.insert(1, "note_again", df["note"])
    text = df.to_csv(index=False).replace("note_again", "note", 1)
    (ctx.tmp / "dups.csv").write_text(text)
    return _train(ctx, _recipe(ctx, data=_orders(ctx, ctx.tmp / "dups.csv")))


def s_duplicate_yaml_key(ctx: Ctx) -> list[str]:
    recipe = _recipe(ctx)
    text = recipe.read_text() + "  learning_rate: 0.1\n  learning_rate: 0.001\n"
    recipe.write_text(text)
    return _train(ctx, recipe)


def s_duplicate_yaml_section(ctx: Ctx) -> list[str]:
    recipe = _recipe(ctx)
    recipe.write_text(recipe.read_text() + "model: {name_or_path: bert-base-uncased}\n")
    return _train(ctx, recipe)


def s_jsonl_bad_line(ctx: Ctx) -> list[str]:
    rows = _orders_frame(40).to_dict("records")
    lines = [json.dumps(r) for r in rows]
    lines[6] = lines[6][:-5]  # cut off mid-object
    (ctx.tmp / "orders.jsonl").write_text("\n".join(lines) + "\n")
    return _train(ctx, _recipe(ctx, data=_orders(ctx, ctx.tmp / "orders.jsonl")))


def s_jsonl_repeated_key(ctx: Ctx) -> list[str]:
    lines = [json.dumps(r) for r in _orders_frame(40).to_dict("records")]
    lines[3] = lines[3][:-1] + ', "note": "again"}'
    (ctx.tmp / "orders.jsonl").write_text("\n".join(lines) + "\n")
    return _train(ctx, _recipe(ctx, data=_orders(ctx, ctx.tmp / "orders.jsonl")))


def s_model_without_tokenizer(ctx: Ctx) -> list[str]:
    model = ctx.tmp / "no-tokenizer"
    model.mkdir()
    for f in ("config.json", "model.safetensors"):
        shutil.copy(ctx.bert / f, model / f)
    return _text_with(ctx, f"--model.name_or_path={model}")


def s_model_without_image_processor(ctx: Ctx) -> list[str]:
    model = ctx.tmp / "no-processor"
    shutil.copytree(ctx.vit, model)
    (model / "preprocessor_config.json").unlink()
    root = table._image_classes(ctx.tmp / "photos", {"crate": 4, "sack": 4})
    recipe = _recipe(ctx, "image-classification", model, {"builder": "image_folder", "path": str(root)})
    return _train(ctx, recipe)


def s_data_path_symlink_loop(ctx: Ctx) -> list[str]:
    (ctx.tmp / "loop.csv").symlink_to(ctx.tmp / "loop.csv")
    return _train(ctx, _recipe(ctx, data=_orders(ctx, ctx.tmp / "loop.csv")))


def s_data_path_dangling_symlink(ctx: Ctx) -> list[str]:
    (ctx.tmp / "link.csv").symlink_to(ctx.tmp / "moved_away.csv")
    return _train(ctx, _recipe(ctx, data=_orders(ctx, ctx.tmp / "link.csv")))


# --------------------------------------------------------------------------- 7. order of checks, flags named


def s_evaluate_data_missing(ctx: Ctx) -> list[str]:
    _real_run(ctx)
    return ["evaluate", str(ctx.run_dir), "--data", str(ctx.tmp / "new_orders.csv")]


def s_evaluate_label_column_missing(ctx: Ctx) -> list[str]:
    _real_run(ctx)
    data = write_demand_csv(ctx.tmp / "more.csv", n=30)
    return ["evaluate", str(ctx.run_dir), "--data", str(data), "--label-column", "priority"]


def s_evaluate_text_column_missing(ctx: Ctx) -> list[str]:
    _real_run(ctx)
    data = write_demand_csv(ctx.tmp / "more.csv", n=30)
    return ["evaluate", str(ctx.run_dir), "--data", str(data), "--text-column", "remarks"]


def s_evaluate_split_not_in_folder(ctx: Ctx) -> list[str]:
    _real_run(ctx)
    folder = ctx.tmp / "held_out"
    folder.mkdir()
    _orders_frame(30).to_csv(folder / "test.csv", index=False)
    return ["evaluate", str(ctx.run_dir), "--data", str(folder), "--split", "validation"]


def s_demo_only_unknown(ctx: Ctx) -> list[str]:
    return ["demo", "--only", "logistics_demand_bert", "--output-dir", str(ctx.run_dir)]


def s_demo_output_dir_is_file(ctx: Ctx) -> list[str]:
    ctx.run_dir.write_text("a file\n")
    return ["demo", "--output-dir", str(ctx.run_dir)]


def _earlier_demo(ctx: Ctx) -> list[str]:
    """An earlier `demo --only logistics_demand_minilm_lora` into ctx.run_dir: its run and its leaderboard."""
    _fake_run(ctx.run_dir / "logistics_demand_minilm_lora")
    (ctx.run_dir / "leaderboard").mkdir()
    for name in ("leaderboard.csv", "leaderboard.md", "leaderboard.html"):
        (ctx.run_dir / "leaderboard" / name).write_text("earlier results\n")
    (ctx.run_dir / "leaderboard" / "leaderboard.png").write_bytes(b"\x89PNG earlier")
    # a few steps on little data, so that code without the check (which trains, then writes) ends quickly
    return ["--output-dir", str(ctx.run_dir), "--training.max_steps=1", "--data.num_samples=40"]


def s_demo_again_other_recipe(ctx: Ctx) -> list[str]:
    return ["demo", "--only", "geology_vit_lora", *_earlier_demo(ctx)]


def s_demo_again_same_recipe(ctx: Ctx) -> list[str]:
    return ["demo", "--only", "logistics_demand_minilm_lora", *_earlier_demo(ctx)]


def s_leaderboard_push_to_invalid(ctx: Ctx) -> list[str]:
    _fake_run(ctx.run_dir)
    return ["leaderboard", str(ctx.run_dir), "--push-to", "not a repo id"]


def s_leaderboard_hub_invalid(ctx: Ctx) -> list[str]:
    _fake_run(ctx.run_dir)
    return ["leaderboard", str(ctx.run_dir), "--hub", "field org/model"]


def s_leaderboard_benchmark_missing(ctx: Ctx) -> list[str]:
    _fake_run(ctx.run_dir)
    return ["leaderboard", str(ctx.run_dir), "--benchmark", str(ctx.tmp / "spec.yaml")]


def s_export_run_missing(ctx: Ctx) -> list[str]:
    return ["export", str(ctx.tmp / "no_run"), "--merge", "--out", str(ctx.tmp / "merged")]


CASES = [
    # 3. predict --input that looks like a path but is not there
    Case("predict-input-missing-path", s_predict_input_missing_path, ("--input", "notes/orders.csv", "does not exist", "--text")),
    Case("predict-input-missing-file", s_predict_input_missing_file, ("--input", "todays_orders.csv", "does not exist", "--text")),
    Case("predict-input-missing-image", s_predict_input_missing_image, ("--input", "pallet_photo.jpg", "does not exist")),
    Case("predict-input-glob-no-match", s_predict_input_glob_no_match, ("--input", "*.png", "matches no files")),
    Case("predict-input-and-text", s_predict_input_and_text, ("--text", "not allowed with argument --input")),
    Case("predict-top-k-zero", s_predict_top_k_zero, ("--top-k", "1 or more")),
    Case("predict-output-unknown-suffix", s_predict_output_unknown_suffix, ("--output", "preds.xlsx", ".csv", ".jsonl")),
    Case("predict-input-symlink-loop", s_predict_input_symlink_loop, ("--input", "orders.csv", "symlink")),
    # 6. values and inputs checked up front
    Case("predict-txt-not-utf8", s_predict_txt_not_utf8, ("notes.txt", "not UTF-8", "re-save")),
    Case("predict-model-without-tokenizer", s_predict_model_without_tokenizer, ("no-tokenizer", "no tokenizer", "save the tokenizer")),
    Case("training-seed-negative", s_training_seed_negative, ("training.seed", "-1", "0 to 2**32 - 1")),
    Case("data-seed-negative", s_data_seed_negative, ("data.seed", "-3", "0 to 2**32 - 1")),
    Case("training-seed-too-large", s_training_seed_too_large, ("training.seed", "4294967296", "0 to 2**32 - 1")),
    Case("data-cli-seed-negative", s_data_cli_seed_negative, ("--seed", "-1", "0 to 2**32 - 1")),
    Case("data-num-samples-zero", s_data_num_samples_zero, ("--num-samples", "0", "1 or more")),
    Case("data-num-samples-negative", s_data_num_samples_negative, ("--num-samples", "-5", "1 or more")),
    Case("max-length-one", s_max_length_one, ("model.max_length", "1", "at least 3")),
    Case("max-length-two", s_max_length_two, ("model.max_length", "2", "at least 3")),
    Case("max-length-zero", s_max_length_zero, ("model.max_length", "0", "at least 3")),
    Case("lora-target-modules-empty", s_lora_target_modules_empty, ("method.target_modules", "[]", "names no module", "leave it out", "probe")),
    Case("max-length-over-positions", s_max_length_over_positions, ("model.max_length", "512", "128 positions")),
    Case("max-length-over-offset-positions", s_max_length_over_offset_positions, ("model.max_length", "65", "64 positions", "66 position embeddings", "set it to 64")),
    Case("duplicate-columns", s_duplicate_columns, ("dups.csv", "repeats column 'note'")),
    Case("duplicate-yaml-key", s_duplicate_yaml_key, ("recipe.yaml", "duplicate key 'learning_rate'", "keep one")),
    Case("duplicate-yaml-section", s_duplicate_yaml_section, ("recipe.yaml", "duplicate key 'model'", "keep one")),
    Case("jsonl-bad-line", s_jsonl_bad_line, ("orders.jsonl", "line 7", "not valid JSON", "fix the line or remove it")),
    Case("jsonl-repeated-key", s_jsonl_repeated_key, ("orders.jsonl", "line 4", "'note' appears twice", "give every field its own name")),
    Case("model-without-tokenizer", s_model_without_tokenizer, ("no-tokenizer", "no tokenizer", "vocab.txt")),
    Case("model-without-image-processor", s_model_without_image_processor, ("no-processor", "image processor", "preprocessor_config.json")),
    Case("data-path-symlink-loop", s_data_path_symlink_loop, ("loop.csv", "symlink loop")),
    Case("data-path-dangling-symlink", s_data_path_dangling_symlink, ("link.csv", "symlink to a missing file")),
    # 7. arguments checked before a model loads; the flag the user typed is named
    Case("evaluate-data-missing", s_evaluate_data_missing, ("new_orders.csv", "does not exist", "`--data`"), existing=True),
    Case("evaluate-label-column-missing", s_evaluate_label_column_missing, ("'priority'", "`--label-column`"), existing=True),
    Case("evaluate-text-column-missing", s_evaluate_text_column_missing, ("'remarks'", "`--text-column`"), existing=True),
    Case("evaluate-split-not-in-folder", s_evaluate_split_not_in_folder, ("held_out", "'validation'", "test"), existing=True),
    Case("demo-only-unknown", s_demo_only_unknown, ("--only", "logistics_demand_bert", "logistics_demand_minilm_lora", "geology_vit_lora")),
    Case("demo-output-dir-is-file", s_demo_output_dir_is_file, ("--output-dir", "is a file"), existing=True),
    Case("demo-again-other-recipe", s_demo_again_other_recipe, ("--output-dir", "leaderboard.csv", "already exists", "--overwrite"), existing=True),
    Case("demo-again-same-recipe", s_demo_again_same_recipe, ("logistics_demand_minilm_lora", "already exists", "--overwrite"), existing=True),
    Case("leaderboard-push-to-invalid", s_leaderboard_push_to_invalid, ("--push-to", "'not a repo id'", "namespace/name"), existing=True),
    Case("leaderboard-hub-invalid", s_leaderboard_hub_invalid, ("--hub", "'field org/model'"), existing=True),
    Case("leaderboard-benchmark-missing", s_leaderboard_benchmark_missing, ("--benchmark", "spec.yaml", "does not exist"), existing=True),
    Case("export-run-missing", s_export_run_missing, ("no_run", "does not exist")),
]  # fmt: skip


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=c.marks) for c in CASES])
def test_bad_value_is_one_line_exit_2(
    case: Case, tmp_path, tiny_bert, tiny_vit, request, monkeypatch, capsys
):
    table.run_case(case, Ctx(tmp_path, tiny_bert, tiny_vit, request, monkeypatch), capsys)


# --------------------------------------------------------------------------- not failures


@pytest.mark.parametrize(
    "config_class, rows, limit",
    [
        ("MPNetConfig", 514, 512),
        ("RobertaConfig", 514, 512),
        ("XLMRobertaConfig", 514, 512),
        ("BertConfig", 512, 512),
    ],
)
def test_max_length_limit_of_a_saved_config(tmp_path, config_class, rows, limit):
    """From config.json alone (torch-free): models that number positions from padding_idx + 1 (MPNet, RoBERTa,
    XLM-R) take max_position_embeddings - 2 tokens; BERT all of them. The limit passes, one more does not."""
    import transformers

    from fieldtune.errors import FieldtuneError
    from fieldtune.modeling.checkpoint import check_max_length, load_model_config

    getattr(transformers, config_class)(max_position_embeddings=rows).save_pretrained(tmp_path)
    config = load_model_config(str(tmp_path))
    check_max_length(config, limit, "the model")
    with pytest.raises(FieldtuneError, match=rf"\({limit} positions.*set it to {limit} or less"):
        check_max_length(config, limit + 1, "the model")


def test_free_text_that_cannot_be_a_path_is_predicted(tiny_classifier, capsys):
    texts = ["two pallets of water", "urgent? [3 crates]"]  # no separator, no extension: text, even with ?
    for text in texts:
        assert main(["predict", str(tiny_classifier), "--input", text]) == 0
    assert main(["predict", str(tiny_classifier), "--text", "see notes/orders.csv"]) == 0  # never a path
    rows = capsys.readouterr().out.splitlines()[1::2]  # each call prints a header and one row
    assert [row.rsplit(",", 2)[0] for row in rows] == [*texts, "see notes/orders.csv"]


def _evaluated(tmp_path: Path, capsys, *extra: str) -> tuple[dict, str]:
    out = tmp_path / "results.json"
    assert main(["evaluate", str(tmp_path / "run"), *extra, "--output", str(out)]) == 0
    return json.loads(out.read_text()), capsys.readouterr().out


def test_evaluate_a_folder_holding_only_a_test_file(
    tmp_path, tiny_bert, tiny_vit, request, monkeypatch, capsys
):
    _real_run(Ctx(tmp_path, tiny_bert, tiny_vit, request, monkeypatch))
    folder = tmp_path / "held_out"
    folder.mkdir()
    _orders_frame(45).to_csv(folder / "test.csv", index=False)
    results, printed = _evaluated(tmp_path, capsys, "--data", str(folder))
    assert results["num_test_examples"] == 45 and "Scored 45 examples." in printed


def test_evaluate_an_unsplit_folder_scores_all_of_it(tmp_path, tiny_vit, capsys):
    """440 new images in class folders: all are scored (not a re-split 20% of them), and the count is said."""
    from transformers import AutoImageProcessor, ViTConfig, ViTForImageClassification

    model = tmp_path / "run" / "model"
    config = ViTConfig.from_pretrained(
        tiny_vit, id2label={0: "crate", 1: "sack"}, label2id={"crate": 0, "sack": 1}
    )
    ViTForImageClassification(config).save_pretrained(model)
    AutoImageProcessor.from_pretrained(tiny_vit).save_pretrained(model)
    table._image_classes(tmp_path / "new_photos", {"crate": 220, "sack": 220})
    results, printed = _evaluated(tmp_path, capsys, "--data", str(tmp_path / "new_photos"))
    assert results["num_test_examples"] == 440 and "Scored 440 examples." in printed


def _lora_model(folder: Path, backbone: Path) -> Path:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoTokenizer, BertForSequenceClassification

    model = BertForSequenceClassification.from_pretrained(backbone, num_labels=2)
    lora = get_peft_model(
        model, LoraConfig(r=2, target_modules=["query", "value"], modules_to_save=["classifier"])
    )
    lora.save_pretrained(folder)
    model.config.architectures = ["BertForSequenceClassification"]
    model.config.save_pretrained(folder)
    AutoTokenizer.from_pretrained(backbone).save_pretrained(folder)
    return folder


@pytest.mark.parametrize("debug", [False, True], ids=["quiet", "debug"])
def test_library_deprecation_warnings_only_with_debug(debug, tmp_path, tiny_bert, monkeypatch):
    """A library's deprecation notice on the way (transformers' `is_gradient_checkpointing` on every LoRA load
    with peft <= 0.21) is for fieldtune, not its users: shown with --debug only. The notice is raised here by
    the tokenizer's loader, so the test does not hang on which library versions still raise one."""
    import transformers

    adapter = _lora_model(tmp_path / "adapter", tiny_bert)
    load = transformers.AutoTokenizer.from_pretrained

    def deprecated_load(*args, **kwargs):
        warnings.warn("`use_auth_token` is deprecated and will be removed in v6", FutureWarning, stacklevel=2)
        return load(*args, **kwargs)

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", deprecated_load)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")  # every warning raised inside counts, seen before or not
        argv = ["predict", str(adapter), "--text", "two pallets"] + (["--debug"] if debug else [])
        assert main(argv) == 0
    future = [str(w.message) for w in seen if issubclass(w.category, FutureWarning | DeprecationWarning)]
    assert ("`use_auth_token` is deprecated and will be removed in v6" in future) == debug, future
    if not debug:
        assert not future
