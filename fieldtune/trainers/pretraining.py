"""Domain-adaptive continued pre-training (`pretraining:`; Gururangan et al. 2020, "Don't Stop Pretraining"):
the checkpoint's encoder trained further with its self-supervised objective (text: masked LM, the Modality
row's `pretraining_class`) on the run's train texts plus the user's unlabelled ones, then saved, so that the
classifier `create_model` builds starts from it. Never the validation or test texts: the scores of the run
stay honest. A Trainer with `DataCollatorForLanguageModeling`; the phase resumes from its own checkpoints,
and a finished phase (`pretraining/pretraining.json` beside `pretraining/encoder/`) is reused on --resume.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transformers import Trainer, set_seed

from fieldtune import progress
from fieldtune.config import RunConfig
from fieldtune.datasets_builders.unlabeled import read_extra_texts
from fieldtune.errors import ConfigError, DataError, ModelError
from fieldtune.inputs.text import encode_batch
from fieldtune.modeling.checkpoint import load_model_config, resolve_model_path
from fieldtune.modeling.precision import resolve_attention
from fieldtune.rundir.layout import PRETRAINING, last_complete_checkpoint, write_json
from fieldtune.tasks.table import Task
from fieldtune.trainers.arguments import auto_dataloader_workers
from fieldtune.trainers.progress_callback import attach_progress

logger = logging.getLogger(__name__)

DONE = "pretraining.json"  # written last: the phase finished, with its settings and what it did
ENCODER = "encoder"


@dataclass
class Corpus:
    """The texts of the masked-LM phase: the train split's, then the unlabelled ones."""

    texts: list[str]
    train_texts: int
    extra_texts: int
    summary: dict[str, Any] = field(default_factory=dict)  # filled by `pretrain`, for eval_results.json

    def fingerprint(self) -> str:
        return hashlib.sha256("\n".join(self.texts).encode()).hexdigest()[:16]


class MaskedLMTrainer(Trainer):
    """transformers' Trainer with fieldtune's progress reporting. The masked-LM loss is the model's own, but
    its head runs on the masked positions only (~15% of the tokens): the vocabulary-sized logits of every
    other position are computed and thrown away by the model's forward (a 30k x 768 matmul and softmax input
    per token). Same loss: with one batch per step, the mean over its masked tokens; over accumulated batches,
    their sum over the step's masked-token count (the Trainer's `num_items_in_batch`, which it then does not
    divide again). A wrapped model (DDP) or a head of several parts takes the model's own path."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        attach_progress(self)
        self.masked_head = masked_lm_head(self.model)  # None: the model's own forward and loss

    def compute_loss(
        self, model: Any, inputs: dict, return_outputs: bool = False, num_items_in_batch: Any = None
    ) -> Any:
        head = self.masked_head if model is self.model and not return_outputs else None
        labels = inputs.get("labels")
        masked = labels != -100 if labels is not None else None
        if head is None or masked is None or not bool(masked.any()):
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        import torch.nn.functional as F

        # accelerate's mixed precision wraps the model's forward, not its parts: the same autocast here
        with self.accelerator.autocast():
            hidden = model.base_model(**{k: v for k, v in inputs.items() if k != "labels"})[0]
            logits = head(hidden[masked]).float()  # as the model's loss: float logits
        if self.model_accepts_loss_kwargs and num_items_in_batch is not None:
            loss = F.cross_entropy(logits, labels[masked], reduction="sum") / num_items_in_batch
            if self.args.average_tokens_across_devices:
                loss = loss * self.accelerator.num_processes
        else:
            loss = F.cross_entropy(logits, labels[masked])
        return loss


def masked_lm_head(model: Any) -> Any:
    """The masked-LM model's head when it is one module beside the encoder taking the hidden states alone
    (BERT's `cls`, RoBERTa / MPNet's `lm_head`); None otherwise (DistilBERT's four parts, ELECTRA's two)."""
    import inspect

    base = getattr(model, "base_model", None)
    heads = [m for m in model.children() if m is not base and any(True for _ in m.parameters())]
    if base is None or base is model or len(heads) != 1:
        return None
    params = inspect.signature(heads[0].forward).parameters.values()
    required = [
        p for p in params if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    return heads[0] if len(required) == 1 else None  # the hidden states, nothing else it must be given


class MaskedLMCollator:
    """`DataCollatorForLanguageModeling` over the token columns only (not `length`, kept for grouping)."""

    def __init__(self, tokenizer: Any, mlm_probability: float) -> None:
        from transformers import DataCollatorForLanguageModeling

        self.collate = DataCollatorForLanguageModeling(tokenizer, mlm_probability=mlm_probability)

    def __call__(self, features: list[dict]) -> dict:
        keep = ("input_ids", "attention_mask", "token_type_ids")
        return self.collate([{k: f[k] for k in keep if k in f} for f in features])


def mlm_corpus(config: RunConfig, task: Task, data: Any, resumed: Path | None = None) -> Corpus | None:
    """The phase's texts (`data`: run()'s data stage), checked before anything is written (None:
    `pretraining.epochs` is 0): the model type has a masked-LM class, the tokenizer a mask token,
    `extra_texts` reads; `resumed` (the run directory of --resume): its finished phase had these settings."""
    dd, report, tokenizer = data.dd, data.report, data.prepared.processor
    settings = config.pretraining
    if not settings.epochs:
        return None
    from transformers.models.auto import modeling_auto

    name = config.model.name_or_path
    model_type = getattr(load_model_config(name, config.model.revision), "model_type", None)
    if model_type not in getattr(modeling_auto, task.inputs.pretraining_types):
        raise ModelError(
            f"`pretraining.epochs`: {name} is a {model_type} model, which transformers cannot train with"
            f" {task.inputs.pretraining_class}; set `pretraining.epochs: 0` or pick a BERT-like checkpoint."
        )
    if getattr(tokenizer, "mask_token", None) is None:
        raise ModelError(
            f"`pretraining.epochs`: the tokenizer of {name} has no mask token for masked-LM training; set"
            " `pretraining.epochs: 0`."
        )
    train = [t for t in dd["train"]["text"] if t and t.strip()]
    extra: list[str] = []
    if settings.extra_texts:
        mode = (report.get("normalization") or {}).get("mode", "none")  # as the labelled texts were read
        extra = read_extra_texts(
            settings.extra_texts,
            settings.extra_texts_column,
            config.data.text_columns,
            config.data.encoding,
            mode,
        )
        # a file of "all headings" may hold the very texts the run is scored on: those stay out
        held_out = {t for split, rows in dd.items() if split != "train" for t in rows["text"]}
        kept = [t for t in extra if t not in held_out]
        if not kept:
            raise DataError(
                f"`pretraining.extra_texts`: every text of {settings.extra_texts} is a validation or test text,"
                " which the masked-LM phase must not see; give texts from outside the evaluation splits."
            )
        if len(kept) < len(extra):
            logger.warning(
                "pretraining: %d of the %d extra texts are validation / test texts of this run; left out",
                len(extra) - len(kept), len(extra),
            )  # fmt: skip
        extra = kept
    logger.info("pretraining: masked LM on %d train texts + %d extra texts", len(train), len(extra))
    corpus = Corpus(train + extra, len(train), len(extra))
    if resumed is not None:
        _finished(resumed / PRETRAINING, _settings(config, corpus))
    return corpus


def _finished(folder: Path, settings: dict[str, Any]) -> dict[str, Any] | None:
    """The summary of the finished phase in `folder` (None: none), which must have had these settings."""
    if not (folder / DONE).is_file():
        return None
    recorded = json.loads((folder / DONE).read_text())
    if recorded.get("settings") != settings:
        changed = sorted(k for k in settings if recorded.get("settings", {}).get(k) != settings[k])
        raise ConfigError(
            f"--resume: the run's finished pretraining phase ({folder}) was trained with other settings"
            f" ({', '.join(changed)}); resume with the recipe it started with, or start again with --overwrite."
        )
    return recorded["summary"]


def _settings(config: RunConfig, corpus: Corpus) -> dict[str, Any]:
    """What decides the adapted encoder: a finished phase is reused only with the same."""
    p, t = config.pretraining, config.training
    return {
        "model": config.model.name_or_path, "revision": config.model.revision, "epochs": p.epochs,
        "learning_rate": p.learning_rate, "mlm_probability": p.mlm_probability, "max_length": config.model.max_length,
        "batch_size": t.per_device_train_batch_size, "seed": t.seed, "texts": corpus.fingerprint(),
    }  # fmt: skip


def pretrain(
    config: RunConfig, task: Task, corpus: Corpus, tokenizer: Any, run_dir: Path, precision: str, use_cpu: bool
) -> str:  # fmt: skip
    """Run (or, on --resume, reuse) the phase; returns the adapted encoder's folder and fills `corpus.summary`.
    The seed is set again at the end: the classifier's new head is drawn as in a run that skipped the phase."""
    folder = run_dir / PRETRAINING
    settings = _settings(config, corpus)
    summary = _finished(folder, settings)
    if summary is not None:
        logger.info("pretraining: the finished phase in %s is reused", folder)
        corpus.summary = summary
        set_seed(config.training.seed)  # the classifier's head starts as after the phase
        return str(folder / ENCODER)
    import transformers
    from datasets import Dataset

    path = resolve_model_path(config.model.name_or_path, config.model.revision)
    attention = resolve_attention(config.model.attn_implementation, precision, use_cpu)
    kwargs = {"attn_implementation": attention} if attention else {}
    model, loading = getattr(transformers, task.inputs.pretraining_class).from_pretrained(
        path, revision=config.model.revision, output_loading_info=True, **kwargs
    )
    prefix = model.base_model_prefix + "."
    fresh_head = any(not k.startswith(prefix) for k in loading.get("missing_keys", ()))
    if fresh_head:  # sentence-transformers checkpoints ship the encoder alone: expected, not an error
        logger.info("pretraining: %s has no masked-LM head; a new one trains with the encoder", path)
    limit = min(
        config.model.max_length, getattr(tokenizer, "model_max_length", None) or config.model.max_length
    )
    dataset = Dataset.from_dict({"text": corpus.texts}).map(
        lambda batch: encode_batch(tokenizer, batch["text"], limit), batched=True, remove_columns=["text"],
        new_fingerprint=f"mlm-{corpus.fingerprint()}-{limit}",  # nothing to hash: the texts are the key
    )  # fmt: skip
    trainer = MaskedLMTrainer(
        model=model,
        args=_arguments(config, folder / "checkpoints", precision, use_cpu),
        train_dataset=dataset,
        data_collator=MaskedLMCollator(tokenizer, config.pretraining.mlm_probability),
        processing_class=tokenizer,
    )
    output = trainer.train(resume_from_checkpoint=last_complete_checkpoint(folder / "checkpoints"))
    corpus.summary = {
        **{k: getattr(config.pretraining, k) for k in ("epochs", "learning_rate", "mlm_probability")},
        "objective": "masked-lm", "train_texts": corpus.train_texts, "extra_texts": corpus.extra_texts,
        **({"extra_texts_file": Path(config.pretraining.extra_texts).name} if corpus.extra_texts else {}),
        "fresh_lm_head": fresh_head, "steps": trainer.state.global_step,
        "train_loss": round(float(output.metrics.get("train_loss", float("nan"))), 4),
        "runtime_s": round(float(output.metrics.get("train_runtime", 0.0)), 3),
    }  # fmt: skip
    if trainer.args.process_index == 0:
        _save_encoder(model, path, config.model.revision, folder / ENCODER)
        write_json(folder / DONE, {"settings": settings, "summary": corpus.summary})
        # the checkpoints hold optimizer states (3x the weights): the encoder is what the run needs now
        shutil.rmtree(folder / "checkpoints", ignore_errors=True)
    trainer.accelerator.wait_for_everyone()
    set_seed(config.training.seed)  # the classifier's head starts as a resumed run's (the phase drew numbers)
    return str(folder / ENCODER)


def _arguments(config: RunConfig, output_dir: Path, precision: str, use_cpu: bool) -> Any:
    """The phase's TrainingArguments: the recipe's batch, decay, warm-up, seed and precision; its own epochs
    and rate; no evaluation (no labels); checkpoints as the fine-tuning saves them, the last one kept."""
    from transformers import TrainingArguments

    training = config.training
    saving = {k: training.extra[k] for k in ("save_strategy", "save_steps") if k in training.extra}
    workers = auto_dataloader_workers(use_cpu)
    return TrainingArguments(
        output_dir=str(output_dir), num_train_epochs=config.pretraining.epochs,
        learning_rate=config.pretraining.learning_rate,
        per_device_train_batch_size=training.per_device_train_batch_size,
        gradient_accumulation_steps=training.gradient_accumulation_steps, weight_decay=training.weight_decay,
        warmup_steps=training.warmup_ratio, seed=training.seed, eval_strategy="no",
        save_strategy=saving.get("save_strategy", "epoch"), save_steps=saving.get("save_steps", 500),
        save_total_limit=1, logging_strategy="steps", logging_steps=10, report_to="none",
        bf16=precision == "bf16", fp16=precision == "fp16", use_cpu=use_cpu,
        disable_tqdm=progress.mode() != "bar", dataloader_num_workers=workers,
        dataloader_persistent_workers=workers > 0, dataloader_pin_memory=not use_cpu,
        remove_unused_columns=False, train_sampling_strategy="group_by_length",
    )  # fmt: skip


def _save_encoder(mlm: Any, path: str, revision: str | None, out: Path) -> None:
    """The adapted encoder as the checkpoint's own base model: the masked-LM model's encoder weights over
    the checkpoint's (which keep what the masked-LM class leaves out, e.g. BERT's pooler), in a temp folder
    renamed into place."""
    from transformers import AutoModel

    encoder = AutoModel.from_pretrained(path, revision=revision)
    missing, unexpected = encoder.load_state_dict(mlm.base_model.state_dict(), strict=False)
    if unexpected:  # the masked-LM encoder is the base model's layers: nothing of it may be dropped
        raise ModelError(
            f"pretraining: the adapted encoder does not fit {type(encoder).__name__} ({unexpected[0]})."
        )
    if missing:
        logger.debug("pretraining: kept from the checkpoint: %s", ", ".join(missing))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}-"))
    try:
        encoder.save_pretrained(tmp)
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


__all__ = ["Corpus", "MaskedLMCollator", "MaskedLMTrainer", "masked_lm_head", "mlm_corpus", "pretrain"]
