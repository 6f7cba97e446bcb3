"""The run configuration's schema: one dataclass per concern, every field with a default and a help text.

Fixed choices are `Literal`s; a field's `check` names what a bad value must be; loading is `fieldtune.config`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

import fieldtune.config.value_checks as checks
from fieldtune.config.baseline_schema import BaselineConfig, EnsembleConfig
from fieldtune.config.checks import (
    _codec,
    _f,
    _fraction,
    _fraction_inclusive,
    _max_length,
    _names,
    _non_negative,
    _not_blank,
    _positive,
    _seed,
)
from fieldtune.config.cv_schema import CVConfig
from fieldtune.config.distill_schema import DistillConfig
from fieldtune.config.pretraining_schema import PretrainingConfig
from fieldtune.tasks.table import TASKS

TaskName = Literal[tuple(TASKS)]  # the task table is the one list of tasks
MethodName = Literal["full", "lora", "freeze", "probe", "probe_unfreeze", "baseline"]


@dataclass
class ModelConfig:
    name_or_path: str = _f("", "Hub id (e.g. `bert-base-uncased`) or local folder of the backbone.")
    revision: str | None = _f(None, "Hub revision (branch, tag or commit) of the backbone.")
    max_length: int = _f(
        128,
        "Text: longest tokenised input; longer texts are truncated and counted. At most the model's positions"
        " (`max_position_embeddings`, less padding_idx + 1 for RoBERTa-like models: MPNet / RoBERTa 514 -> 512);"
        " at least 3 ([CLS] text [SEP]).",
        check=_max_length,
    )
    dropout: float | None = _f(
        None,
        "Dropout inside the backbone, on hidden states and attention probabilities (config"
        " `hidden_dropout_prob` + `attention_probs_dropout_prob`, or `dropout` + `attention_dropout`); None"
        " keeps the checkpoint's. 0 converges faster in short fine-tunes and skips sampling masks each step.",
        check=_fraction,
    )
    attn_implementation: Literal["auto", "sdpa", "eager"] = _f(
        "auto",
        "Attention kernel (transformers' `attn_implementation`). auto: `eager` (matmul + softmax) when"
        " training in bf16 on a CPU, where torch's SDPA kernels ran 1.1-1.6x slower; transformers' default"
        " (`sdpa` where the model has it) elsewhere.",
    )
    pooling: Literal["auto", "cls", "mean"] | None = _f(
        None,
        "Text: what the head reads. Unset or cls: the architecture's own head, from the first token (as"
        " plain transformers builds it); mean: the average of the last hidden states over the real tokens"
        " (padding left out), the model saved with its modeling code (load it in plain transformers with"
        " `trust_remote_code=True`); auto: what a sentence-transformers checkpoint says it was trained with"
        " (its modules.json / 1_Pooling/config.json: all-MiniLM-L6-v2 and all-mpnet-base-v2 say mean),"
        " else the architecture's own head.",
    )
    head: Literal["linear", "mlp"] = _f(
        "linear", "Classifier head: the model's own linear head, or GAP -> Dense -> out."
    )
    head_hidden_size: int = _f(1024, "Width of the hidden layer of the `mlp` head.", check=_positive)
    head_dropout: float = _f(0.1, "Dropout before the last layer of the `mlp` head.", check=_fraction)


@dataclass
class AugmentConfig:
    random_resized_crop: bool = _f(True, "Random resized crop to the model's input size while training.")
    crop_scale_min: float = _f(
        0.6, "Smallest crop area, as a fraction of the image.", check=checks.area_fraction_problem
    )
    horizontal_flip: bool = _f(True, "Random left-right flips.")
    vertical_flip: bool = _f(False, "Random up-down flips (top-down photos, thin sections).")
    rotate90: bool = _f(False, "Random 90 degree rotations (top-down photos, thin sections).")
    color_jitter: float = _f(
        0.0, "Brightness / contrast / saturation jitter strength (0 = off).", check=_non_negative
    )
    gamma_jitter: float = _f(
        0.0,
        "Random gamma (exposure) per image, drawn log-uniform in [1/(1+s), 1+s]: changes the mid-tones,"
        " keeps black and white (0 = off).",
        check=_non_negative,
    )
    random_erasing: float = _f(
        0.0,
        "Probability per image of replacing one random rectangle (2-33% of the area) with noise of the"
        " image's mean and spread, so no single region decides the class (0 = off).",
        check=_fraction_inclusive,
    )
    test_time: Literal["none", "flips", "dihedral"] = _f(
        "none",
        "Test-time augmentation at evaluation and predict: average over the 4 flips or all 8 flips and"
        " rotations (square inputs) of each image.",
    )


@dataclass
class DataConfig:
    builder: str = _f(
        "text_table", "Dataset builder: text_table, logistics_demand, hs_codes, image_folder, ..."
    )
    path: str | None = _f(None, "File, folder or Hub dataset id to read (synthetic builders: optional).")
    text_columns: list[str] | None = _f(None, "Text column(s); several are joined with ' | '.")
    label_column: str | None = _f(None, "Column with the class label or the numeric target.")
    label_columns: list[str] | None = _f(
        None,
        "Multi-label tasks: one 0/1 (or true/false, yes/no) column per label, named after it, instead of"
        " one `label_column` of label lists; e.g. [urgent, refrigerated, fragile].",
    )
    image_column: str | None = _f(
        None, "Metadata column with image file names (image folders with metadata)."
    )
    threshold: float | None = _f(None, "Binarise a numeric label: above the threshold -> class 1.")
    threshold_labels: list[str] = _f(
        None, "Class names below / above `threshold`.", factory=lambda: ["low", "high"]
    )
    validation_size: float = _f(
        0.1, "Fraction held out for validation when the data has no such split.", check=_fraction
    )
    test_size: float = _f(
        0.2, "Fraction held out for the test split when the data has none.", check=_fraction
    )
    seed: int = _f(0, "Seed of the stratified splits and of the synthetic generators.", check=_seed)
    num_samples: int = _f(600, "Synthetic builders: how many examples to generate.", check=_positive)
    language: Literal["en", "zh"] = _f(
        "en", "logistics_demand without `data.path`: generate English (en) or Chinese (zh) order notes."
    )
    max_train_samples: int | None = _f(None, "Cap the train split (quick tries).", check=_positive)
    delimiter: str | None = _f(None, "CSV delimiter; sniffed when not given.", check=checks.delimiter_problem)
    encoding: str | None = _f(
        None,
        "Text tables: the files' encoding (utf-8, gb18030, gbk, big5, utf-16, latin-1, ...); when not given,"
        " detected among UTF-8 (with or without BOM), UTF-16, GB18030 / GBK and Big5. The run records it.",
        check=_codec,
    )
    normalize: Literal["auto", "nfkc", "none"] = _f(
        "auto",
        "Text: nfkc = Unicode NFKC (full-width digits, letters and punctuation, ideographic spaces -> their"
        " plain forms) and control / zero-width characters removed; none = as read; auto = nfkc when the"
        " training texts hold CJK or full-width characters, else none. Saved with the model; predict applies it.",
    )
    max_unknown_rate: float = _f(
        0.05,
        "Text: stop before training when more than this share of the tokens of a sample of training texts"
        " is the tokenizer's unknown token (the model cannot read the language).",
        check=_fraction_inclusive,
    )
    allow_unknown_tokens: bool = _f(
        False, "Text: warn instead of stopping when `max_unknown_rate` is exceeded."
    )
    label_delimiter: str = _f(
        ";",
        "Label sets (text-multilabel, image-multilabel): what separates the labels in a string cell.",
        check=_not_blank,
    )
    image_size: int | None = _f(
        None, "Images: input size; defaults to the model's image processor.", check=checks.image_side_problem
    )
    augment: AugmentConfig = _f(None, "Images: training augmentation.", factory=AugmentConfig)


@dataclass
class MethodConfig:
    name: MethodName = _f(
        "full",
        "full | lora | freeze (last N layers + head) | probe (head only) | probe_unfreeze | baseline (the"
        " classical model of the task on the same split: text TF-IDF + a linear model, images a linear probe;"
        " the `baseline:` section).",
    )
    freeze_embeddings: bool = _f(
        False,
        "Text, full / freeze: keep the token-embedding table fixed (half of MiniLM's weights): no dense"
        " gradient, clipping or AdamW update for it each step; words unseen in training stay aligned.",
    )
    lora_r: int = _f(8, "LoRA rank.", check=_positive)
    lora_alpha: int = _f(16, "LoRA alpha (scale = alpha / r).", check=_positive)
    lora_dropout: float = _f(
        0.0,
        "Dropout on the LoRA path (peft's default 0; each LoRA layer with p > 0 keeps its own dropped copy"
        " of its input for backward: +1.1 GB at BERT-base batch 8 x 128).",
        check=_fraction,
    )
    target_modules: list[str] | None = _f(
        None,
        "LoRA targets (module name suffixes, at least one); chosen per architecture when not given.",
        check=_names,
    )
    trainable_layers: int = _f(
        2, "freeze / probe_unfreeze: how many top layers or stages train.", check=_non_negative
    )
    probe_epochs: float = _f(1.0, "probe_unfreeze: epochs of phase 1 (head only).", check=_positive)
    probe_learning_rate: float = _f(
        1e-3,
        "probe_unfreeze: learning rate of phase 1 (head only); `probe` uses training.learning_rate.",
        check=_positive,
    )
    feature_cache: bool = _f(True, "Frozen backbone: compute pooled features once, train the head on them.")


@dataclass
class WeightAveragingConfig:
    """`training.weight_averaging`: SWA-style averaging (or an EMA) of the trainable weights."""

    start: float | None = _f(
        None,
        "Average the trainable weights from this fraction of the optimizer steps on (e.g. 0.75: the last"
        " quarter) and make the average the final model (it replaces the best-epoch checkpoint); None: off.",
        check=_fraction,
    )
    every_steps: int | None = _f(
        None,
        "Take a snapshot every this many optimizer steps; None: at the end of each epoch.",
        check=_positive,
    )
    ema_decay: float | None = _f(
        None,
        "An exponential moving average with this decay (e.g. 0.999 with every_steps: 1) instead of the equal"
        " mean of the snapshots.",
        check=_fraction,
    )


@dataclass
class TrainingConfig:
    """Fieldtune's own keys plus any `transformers.TrainingArguments` field (passed through)."""

    precision: Literal["auto", "bf16", "fp16", "fp32"] = _f(
        "auto", "auto: bf16 where the CPU/GPU has it, else fp32."
    )
    class_weights: Any = _f(
        None,
        "None, 'balanced', 'balanced_sqrt' (its square root), a list (one per class) or {label: weight}.",
    )
    early_stopping_patience: int | None = _f(
        None, "Stop after this many evaluations without improvement.", check=_positive
    )
    layerwise_lr_decay: float | None = _f(
        None, "Multiply the learning rate by this per layer going down (LLRD).", check=_positive
    )
    precise_bn: int = _f(
        2048,
        "Images: before each evaluation and at the end of training, recompute the trainable BatchNorm"
        " layers' statistics over up to this many training images (eval transform), so evaluation and the"
        " saved model use statistics of the current weights; 0: off. No effect without BatchNorm.",
        check=_non_negative,
    )
    label_smoothing_factor: float = _f(
        0.0,
        "Label smoothing e: classes train on (1 - e) x one-hot + e / classes (torch's cross_entropy, with the"
        " class weights too); label sets smooth each 0/1 target towards 1/2 (y (1 - e) + e / 2). Not for"
        " regression.",
        check=_fraction,
    )
    r_drop: float = _f(
        0.0,
        "R-Drop: every training batch goes through the model twice (two dropout masks, ~2x the step time);"
        " the loss is the mean of both cross-entropies plus this weight (alpha, e.g. 1-5) times their"
        " symmetric KL divergence. Classes only; needs dropout (`model.dropout` > 0 or the checkpoint's). 0: off.",
        check=_non_negative,
    )
    mixup_alpha: float = _f(
        0.0,
        "Images: Mixup, each training batch blended with a shuffled copy of itself, x = lam x_i + (1 - lam)"
        " x_j with lam ~ Beta(alpha, alpha), the loss weighted the same way over both labels (e.g. 0.2-0.4;"
        " 0: off). Evaluation and predict see plain images.",
        check=_non_negative,
    )
    cutmix_alpha: float = _f(
        0.0,
        "Images: CutMix, a random rectangle of a shuffled partner pasted into each training image, the loss"
        " weighted by the area each label keeps (lam ~ Beta(alpha, alpha), e.g. 1.0; 0: off). With"
        " `mixup_alpha` too, each batch takes one of the two at random.",
        check=_non_negative,
    )
    weight_averaging: WeightAveragingConfig = _f(
        None, "Average the trainable weights late in training (SWA / EMA).", factory=WeightAveragingConfig
    )
    num_train_epochs: float = _f(3.0, "Training epochs.", check=_positive)
    min_steps: int | None = _f(
        None,
        "Small data: at least this many optimizer steps; `num_train_epochs` is raised (whole epochs) when the"
        " train split gives fewer, and `early_stopping_patience` ends the run once validation stops"
        " improving. None: the epochs as given. Ignored with `max_steps`.",
        check=_positive,
    )
    learning_rate: float = _f(5e-5, "Peak learning rate.", check=_positive)
    per_device_train_batch_size: int = _f(
        16, "Batch size per device (global = this x devices x accumulation).", check=_positive
    )
    per_device_eval_batch_size: int = _f(64, "Evaluation batch size per device.", check=_positive)
    gradient_accumulation_steps: int = _f(1, "Steps to accumulate before an optimizer step.", check=_positive)
    weight_decay: float = _f(0.01, "AdamW weight decay.", check=_non_negative)
    warmup_ratio: float = _f(0.1, "Fraction of steps spent warming up the learning rate.", check=_fraction)
    seed: int = _f(42, "Training seed (init of the new head, shuffling, dropout).", check=_seed)
    extra: dict[str, Any] = _f(None, "Other TrainingArguments fields, passed through.", factory=dict)


@dataclass
class HubConfig:
    push: bool = _f(False, "Push the run to the Hub at the end of training (main process only).")
    repo_id: str | None = _f(None, "Target repo, `namespace/name`.")
    private: bool = _f(False, "Create the repo as private.")
    merge: bool = _f(False, "Push merged weights instead of the LoRA adapter.")
    revision: str | None = _f(None, "Branch to push to (default: main).")
    include_predictions: bool = _f(
        False, "Also push predictions.csv (the test split's raw inputs and labels); it always stays local."
    )


@dataclass
class RunConfig:
    task: TaskName = _f("text-classification", " | ".join(TASKS) + ".")
    name: str | None = _f(
        None, "Run folder output_dir/NAME; default: the recipe's file name (data_model_method if overridden)."
    )
    output_dir: str = _f("runs", "Folder that holds run directories.")
    model: ModelConfig = _f(None, "The backbone and head.", factory=ModelConfig)
    data: DataConfig = _f(None, "Where the data comes from and how it is split.", factory=DataConfig)
    method: MethodConfig = _f(
        None, "How the model is adapted: full, lora, freeze, probe, probe_unfreeze.", factory=MethodConfig
    )
    training: TrainingConfig = _f(
        None, "Optimisation; any TrainingArguments field passes through.", factory=TrainingConfig
    )
    pretraining: PretrainingConfig = _f(
        None, "Text: masked-LM training of the encoder on the task's texts first.", factory=PretrainingConfig
    )
    baseline: BaselineConfig = _f(
        None, "The classical model of `fieldtune baseline` (text: TF-IDF + linear).", factory=BaselineConfig
    )
    ensemble: EnsembleConfig = _f(
        None,
        "Mixing the fine-tuned model with the `baseline:` model (text classes and tags).",
        factory=EnsembleConfig,
    )
    hub: HubConfig = _f(None, "Pushing the result to the Hugging Face Hub.", factory=HubConfig)
    cv: CVConfig = _f(None, "k-fold cross-validation and its final model.", factory=CVConfig)
    distill: DistillConfig = _f(
        None, "Knowledge distillation from a finished run (the teacher).", factory=DistillConfig
    )

    def to_dict(self) -> dict[str, Any]:
        """The effective config as plain data (what `config.yaml` in the run holds; no secrets)."""
        out = dataclasses.asdict(self)
        out["training"].update(out["training"].pop("extra"))
        return out
