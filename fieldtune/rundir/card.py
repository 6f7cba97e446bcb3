"""The model card (README.md of the run and of the pushed repo): YAML metadata with `model-index`
that `huggingface_hub.ModelCard` parses into `EvalResult`s, and a body a person can read."""

from __future__ import annotations

from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from fieldtune.modeling import methods
from fieldtune.rundir.cv_card import cv_section, fold_usage
from fieldtune.rundir.layout import atomic_write_text
from fieldtune.tasks.table import Task, get_task

METRIC_NAMES = {
    "accuracy": "Accuracy", "f1_macro": "F1 (macro)", "precision_macro": "Precision (macro)",
    "recall_macro": "Recall (macro)", "top_3_accuracy": "Top-3 accuracy", "top_5_accuracy": "Top-5 accuracy",
    "mae": "MAE", "rmse": "RMSE", "r2": "R²",
}  # fmt: skip
METRIC_TYPES = {"f1_macro": "f1", "precision_macro": "precision", "recall_macro": "recall"}

THRESHOLD_NOTE = """
A label is predicted when its sigmoid score reaches its threshold, tuned on the validation split to
maximise that label's F1 (0.5 without one); `fieldtune predict` / `evaluate` apply them (they are stored as
`fieldtune_thresholds` in config.json). A plain transformers pipeline with `top_k=None` returns the sigmoid
scores; compare them with these thresholds yourself.
"""


def _untuned_note(results: dict) -> str:
    """The labels whose thresholds were not tuned: too few validation positives to tune on."""
    untuned = results.get("untuned_thresholds") or {}
    if not untuned.get("labels"):
        return ""
    return (
        f"Too few validation positives to tune (fewer than {untuned['min_positives']}): "
        + ", ".join(untuned["labels"])
        + f"; they keep the threshold shared by all labels ({untuned['shared']:.3f}).\n"
    )


def _baseline_usage(results: dict) -> str:
    return """```python
import json
from huggingface_hub import snapshot_download
from skops.io import get_untrusted_types, load

folder = snapshot_download("REPO_ID")  # or the local run's model/ folder
untrusted = get_untrusted_types(file=f"{folder}/model.skops")  # review these before trusting them
pipeline = load(f"{folder}/model.skops", trusted=untrusted)
labels = json.load(open(f"{folder}/fieldtune_baseline.json"))["label_names"]
pipeline.predict(["your text"])  # label ids (numbers for a regression)
```
Or with fieldtune, which checks that the file holds only scikit-learn / numpy / scipy types:
`fieldtune predict REPO_ID --text "your text"`."""


def _serve_usage(task: Task, repo_id: str | None) -> str:
    """Over HTTP: `fieldtune serve` and the curl line that asks it (same outputs as `fieldtune predict`)."""
    return (
        "Over HTTP with fieldtune (`pip install 'fieldtune[serve]'`; each answer is the row `fieldtune predict`\n"
        "writes, with every label's score):\n\n"
        f"```bash\nfieldtune serve {repo_id or 'RUN_DIR'}   # 127.0.0.1:8000; try it at http://127.0.0.1:8000/\n"
        f"curl -s http://127.0.0.1:8000/predict {task.inputs.curl_data}\n```"
    )


MEAN_POOLED_NOTE = (
    "The head reads the mean of the token states (`model.pooling: mean`), which transformers' own classes"
    " do not do (they classify from the first token). The model's code comes with it (`mean_pooled.py`, torch"
    " and transformers only; read it first) and loads with `trust_remote_code=True`; without it transformers"
    " refuses the model rather than predict otherwise. `fieldtune predict` / `serve` run it without remote"
    " code, and `fieldtune export --format onnx` writes a graph that carries the pooling."
)


def _mean_pooled_usage(task: Task, is_adapter: bool) -> str:
    """A mean-pooled model: its own code, opted into; an adapter is merged first (plain peft would put it
    on the base checkpoint's first-token head)."""
    if is_adapter:
        return (
            "The head reads the mean of the token states (`model.pooling: mean`); plain peft would put this"
            " adapter on the base checkpoint's own head, which classifies from the first token, and predict"
            " otherwise. Merge it into a full model, `fieldtune export RUN_DIR --merge --out merged/`, and load"
            " `merged/` as below (or run `fieldtune predict` on the run).\n\n"
            + _mean_pooled_usage(task, False)
        )
    usage = task.usage.replace('model="REPO_ID"', 'model="REPO_ID", trust_remote_code=True').replace(
        'AutoModelForSequenceClassification.from_pretrained("REPO_ID")',
        'AutoModelForSequenceClassification.from_pretrained("REPO_ID", trust_remote_code=True)',
    )
    return f"```python\n{usage}\n```\n{MEAN_POOLED_NOTE}"


def _usage(task: Task, is_adapter: bool, results: dict | None = None) -> str:
    if (results or {}).get("baseline", {}).get("library") == "scikit-learn":
        return _baseline_usage(results or {})
    if ((results or {}).get("cv") or {}).get("final") == "ensemble":  # no one model: the folds, averaged
        return fold_usage(task, is_adapter, results or {})
    if (results or {}).get("pooling") == "mean":
        return _mean_pooled_usage(task, is_adapter)
    if is_adapter:
        auto = task.inputs.peft_auto_class
        size = task.inputs.card_config_args  # images: the input size the run trained at
        return f"""```python
from transformers import AutoConfig
from peft import {auto}

repo = "REPO_ID"  # or the local model folder
config = AutoConfig.from_pretrained(repo)  # carries id2label
model = {auto}.from_pretrained(repo, num_labels=config.num_labels, id2label=config.id2label, label2id=config.label2id{size})
```
The head's size depends on your labels, so pass them as above (peft loads the base model first).
Or merge the adapter into a plain transformers model: `fieldtune export RUN_DIR --merge --out merged/`."""
    return f"```python\n{task.usage}\n```"


def _text_notes(results: dict) -> str:
    """How the training text was read: encodings, normalisation, and the tokenizer's coverage of it."""
    lines = []
    encodings = results.get("encodings") or {}
    if encodings:
        lines.append("- Encoding of the data files: " + ", ".join(sorted(set(encodings.values()))))
    norm = results.get("normalization") or {}
    if norm:
        changed = norm.get("texts_changed", 0)
        lines.append(
            f"- Text normalisation: `{norm.get('mode')}` (setting `{norm.get('setting')}`; {changed} texts changed)"
            + ("; `fieldtune predict` applies it to its inputs" if norm.get("mode") != "none" else "")
        )
    cov = results.get("tokenizer_coverage") or {}
    if cov:
        rate = cov.get("unknown_rate")
        unknown = (
            "no unknown token" if rate is None else f"{rate:.2%} unknown tokens ({cov.get('unknown_token')})"
        )
        lines.append(
            f"- Tokenizer coverage on {cov.get('sample_texts')} training texts: {unknown}, "
            f"{cov.get('truncated_share', 0):.1%} truncated at {cov.get('max_length')} tokens"
        )
        scripts = cov.get("scripts") or {}
        if scripts:
            written = ", ".join(f"{name} ({share:.0%})" for name, share in scripts.items())
            lines.append(
                f"- Languages: the training texts are written in {written} script; the model was fine-tuned "
                "and checked on these only (the tokenizer coverage above is measured on them)"
            )
    return ("\n### Text\n\n" + "\n".join(lines) + "\n") if lines else ""


def _method_note(name: str, section: dict) -> str:
    """What the method row says of itself on the card (a name this version does not know: nothing)."""
    method = methods.METHODS.get(name)
    return method.card_note(section) if method else ""


def _languages(results: dict) -> list[str]:
    """The card's `language` codes, where the training text's script names one language (Han without
    Kana: Chinese; Kana: Japanese; Hangul: Korean). Latin or Cyrillic script alone names none."""
    scripts = (results.get("tokenizer_coverage") or {}).get("scripts") or {}
    codes = ["ja"] if "Kana" in scripts else ["zh"] if "Han" in scripts else []
    return codes + (["ko"] if "Hangul" in scripts else [])


def card_kinds(results: dict) -> dict:
    """Card metadata (`fieldtune: {baseline: {model}, ensemble: {baseline_model, baseline_weight}, cv: {folds,
    metrics: {name: {mean, sd}}}}`; a model-index result has no field for them), read back by `leaderboard
    --hub` to show a pushed baseline, ensemble or cross-validated run as eval_results.json shows a local one."""
    own: dict = {}
    if (cv := results.get("cv") or {}).get("metrics"):
        stats = {k: {"mean": v.get("mean"), "sd": v.get("sd")} for k, v in cv["metrics"].items()}
        own["cv"] = {"folds": cv.get("folds"), "metrics": stats}
    if results.get("ensemble"):
        own["ensemble"] = {k: results["ensemble"].get(k) for k in ("baseline_model", "baseline_weight")}
    baseline = results.get("baseline")
    if isinstance(baseline, dict) and baseline.get("model"):
        own["baseline"] = {"model": baseline["model"]}
    return {"fieldtune": own} if own else {}


def build_model_card(
    results: dict, config: dict, label_names: list[str] | None, is_adapter: bool, repo_id: str | None = None
) -> ModelCard:
    """Model card from `eval_results.json` data and the effective config."""
    task = get_task(results["task"])
    baseline = results.get("baseline") or {}
    sklearn = baseline.get("library") == "scikit-learn"  # not a transformers model: the card says so
    metrics = {k: v for k, v in results["metrics"].items() if isinstance(v, (int, float))}
    dataset = results["dataset"]
    eval_results = [
        EvalResult(
            task_type=task.model_index_type, task_name=results["task"], dataset_type=dataset, dataset_name=dataset,
            dataset_split=results["split"], metric_type=METRIC_TYPES.get(k, k), metric_name=METRIC_NAMES.get(k, k), metric_value=float(v),
        )
        for k, v in metrics.items()
    ]  # fmt: skip
    base = results.get("base_model") or ""
    data = ModelCardData(
        base_model=base if base and not base.startswith(("/", ".")) else None,
        library_name="sklearn" if sklearn else "peft" if is_adapter else "transformers",
        pipeline_tag=task.pipeline_tag,
        language=_languages(results) or None,
        datasets=[dataset],
        metrics=sorted({METRIC_TYPES.get(k, k) for k in metrics}),
        tags=[
            "fieldtune",
            results["method"],
            results["task"],
            *(["baseline"] if baseline else []),
            *(["ensemble"] if results.get("ensemble") else []),
        ],
        model_name=repo_id or results.get("model") or "fieldtune-model",
        eval_results=eval_results,
        license=None,
        **card_kinds(results),
    )
    training = config.get("training", {})
    hyper = {
        k: training.get(k)
        for k in (
            "num_train_epochs",
            "learning_rate",
            "per_device_train_batch_size",
            "weight_decay",
            "warmup_ratio",
            "seed",
            "class_weights",
            "early_stopping_patience",
            "layerwise_lr_decay",
        )
    }
    hyper["precision (used)"] = results.get("precision")
    if sklearn:  # no training loop: the baseline's own settings
        hyper = {**config.get("baseline", {}), "class_weights": training.get("class_weights")}
    test_time = config.get("data", {}).get("augment", {}).get("test_time", "none")
    if test_time != "none":  # the scores below average views; a plain pipeline predicts one view
        hyper["test-time augmentation (scores average these views; plain transformers predicts one)"] = (
            test_time
        )
    if results.get("pretraining"):  # the encoder was adapted to the domain's texts before fine-tuning
        p = results["pretraining"]
        hyper["domain-adaptive pretraining (masked LM, before fine-tuning)"] = (
            f"{p.get('epochs')} epochs, lr {p.get('learning_rate')}, {p.get('mlm_probability')} masked, on"
            f" {p.get('train_texts')} train + {p.get('extra_texts')} unlabelled texts"
        )
    if results.get("pooling"):  # mean: the head reads the average token state (cls cards are as before)
        hyper["pooling (what the head reads)"] = results["pooling"]
    method = config.get("method", {})
    ci = (results.get("confidence_intervals") or {}).get("metrics") or {}
    rows = "\n".join(
        f"| {METRIC_NAMES.get(k, k)} | {v:.4f} | {f'{ci[k][0]:.4f} - {ci[k][1]:.4f}' if k in ci else ''} |"
        for k, v in metrics.items()
    )
    per_class = results["metrics"].get("per_class") or {}
    class_rows = "\n".join(
        f"| {name} | {s['precision']:.3f} | {s['recall']:.3f} | {s['f1']:.3f} | {s['support']} |"
        for name, s in per_class.items()
    )
    thresholds = results.get("thresholds") or {}
    if thresholds:  # multi-label: the decision per label, as fieldtune predict / evaluate apply it
        class_rows = "\n".join(
            f"| {name} | {s['precision']:.3f} | {s['recall']:.3f} | {s['f1']:.3f} | {s['support']} | "
            f"{thresholds.get(name, 0.5):.3f} |"
            for name, s in per_class.items()
        )
    weak = sorted(per_class.items(), key=lambda kv: kv[1]["f1"])[:3] if per_class else []
    limitations = (
        "Weakest classes on the test split: "
        + ", ".join(f"{n} (F1 {s['f1']:.2f}, n={s['support']})" for n, s in weak)
        + ". "
        if weak
        else ""
    )
    body = (
        f"""# {data.model_name}

{_intro(results, base, dataset)} It predicts {("a set of " if thresholds else "one of ") + str(len(label_names)) + (" labels: " if thresholds else " classes: ") + ", ".join(label_names[:30]) if label_names else "a number"}.

## Data

Dataset `{dataset}` (builder `{config.get("data", {}).get("builder")}`); scores below are on the held-out **{results["split"]}** split,
never seen during training or model selection.
The per-example test predictions (`predictions.csv`, which hold the raw test inputs) stay in the local run
directory; they are published only when pushed with `--include-predictions`.
{_text_notes(results)}
## Method

- {f"Model: {baseline.get('model')} (scikit-learn, `model.skops`)" if sklearn else f"Base model: `{base}`"}
- Method: `{results["method"]}`{_method_note(results["method"], method)}{_distill_note(results.get("distill"))}
- {_params_line(results)}

### Hyperparameters

| setting | value |
|---|---|
"""
        + "\n".join(f"| {k} | {v} |" for k, v in hyper.items())
        + f"""

## Results ({results["split"]} split)

| metric | value | 95% bootstrap interval ({results.get("num_test_examples")} test examples) |
|---|---|---|
{rows}
"""
        + (
            f"""
### Per {"label" if thresholds else "class"}

| {"label" if thresholds else "class"} | precision | recall | F1 | support |{" threshold |" if thresholds else ""}
|---|---|---|---|---|{"---|" if thresholds else ""}
{class_rows}
{THRESHOLD_NOTE + _untuned_note(results) if thresholds else ""}
![{"F1 and confusion counts per label" if thresholds else "confusion matrix"}](plots/{"label_scores" if thresholds else "confusion_matrix"}.png)
"""
            if class_rows
            else "\n![predicted vs true](plots/predicted_vs_true.png)\n"
        )
        + ("" if sklearn else "\n![learning curves](plots/learning_curves.png)\n")
        + cv_section(results)
        + f"""
## Limitations

{limitations}The model knows only the classes and the kind of inputs it was trained on; inputs from another site,
camera, language or time period can score lower than the table says. Check it on your own held-out data
before relying on it, and keep a person in the loop for costly decisions.

## How to use

{_usage(task, is_adapter, results).replace("REPO_ID", repo_id or "REPO_ID")}

{_serve_usage(task, repo_id)}

Trained with fieldtune {results.get("fieldtune_version")}; the full recipe is in `fieldtune_config.yaml`.
"""
    )
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n{body}")


def _intro(results: dict, base: str, dataset: str) -> str:
    baseline = results.get("baseline") or {}
    if baseline.get("library") == "scikit-learn":
        return (
            f"A {results['task']} **baseline** made with [fieldtune](https://pypi.org/project/fieldtune/) for"
            f" {dataset}: {baseline['model']} (scikit-learn). It is not a transformers model: it is the"
            " quick classical model to beat, fitted on exactly the split the fine-tuned runs of this recipe use."
        )
    kind = f" **baseline** ({baseline['model']})" if baseline else ""
    return (
        f"A {results['task']} model{kind} fine-tuned with [fieldtune](https://pypi.org/project/fieldtune/)"
        f" from `{base}` ({results['method']}), for {dataset}." + _ensemble_note(results.get("ensemble"))
    )


def _ensemble_note(entry: dict | None) -> str:
    """An ensemble run says so, and what each half scored alone on the same test split."""
    if not entry:
        return ""

    def scored(m: dict) -> str:
        return (
            f"accuracy {m.get('accuracy', float('nan')):.4f}, macro-F1 {m.get('f1_macro', float('nan')):.4f}"
        )

    search = entry.get("weight_search") or {}
    by = " by log loss" if search.get("chosen_by") == "log_loss" else ""
    chosen = f" chosen on the validation split{by}" if search else ""
    return (
        f" It is an **ensemble**: the fine-tuned model's class probabilities mixed with a {entry['baseline_model']}"
        f" (baseline weight {entry['baseline_weight']:g}{chosen}, {entry['combination']}; the fitted baseline is"
        f" `ensemble_baseline/`). Alone on the same test split the fine-tuned model scored"
        f" {scored(entry['transformer'])} and the baseline {scored(entry['baseline'])}; the results below are"
        " the ensemble's. fieldtune's loader (`fieldtune predict`) runs the ensemble; plain transformers loads"
        " the fine-tuned model alone."
    )


def _distill_note(entry: dict | None) -> str:
    """A distilled run names its teacher and how much of the loss came from it."""
    if not entry:
        return ""
    alpha, temperature = entry.get("alpha"), entry.get("temperature")
    return (
        f"\n- Distilled from the fieldtune run `{entry.get('teacher')}` (base model `{entry.get('teacher_model')}`):"
        f" its logits on the {entry.get('rows')} training texts, loss = (1 - {alpha}) x the hard-label loss +"
        f" {alpha} x T^2 KL(teacher || student) at T = {temperature}"
    )


def _params_line(results: dict) -> str:
    trainable, total = results.get("trainable_params"), results.get("total_params")
    if not isinstance(trainable, int) or not isinstance(total, int):
        return "Parameters: not counted"
    if (results.get("baseline") or {}).get("library") == "scikit-learn":
        return f"Fitted coefficients: {total:,}"
    return f"Trainable parameters: {trainable:,} of {total:,}"


def write_model_card(path: Path, card: ModelCard) -> None:
    atomic_write_text(path, str(card))
