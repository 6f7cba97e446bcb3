"""The task table: everything that differs between the tasks fieldtune trains, in one place.

A `Task` names its inputs (`Modality`: the Auto class, the processor, the default builder, the PEFT task
type, what predict / serve / ONNX / the card read and write for them) and holds its targets (a `fieldtune.targets.Targets`: how labels are batched and which loss they
take, whether the target is standardised for training, how logits become predictions and scores, the
metrics, the baseline's estimator, which recipe options fit). The flow asks these objects; nothing else
branches on a task's name or its kind of target. A new task is a new row here (plus a builder that parses
its labels and, for a new kind of target, a `Targets` in `fieldtune.targets`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fieldtune.errors import ConfigError
from fieldtune.targets import TARGETS, Targets


@dataclass(frozen=True)
class Modality:
    name: str  # "text" | "image"
    auto_class: str  # the transformers Auto class of its models
    model_types: str  # transformers' table of the model types that Auto class can build
    backbone: str  # how an error names a backbone that fits
    processor: str  # "tokenizer" | "image processor", saved beside the model
    processor_class: str  # the transformers Auto class that loads that processor
    default_builder: str  # the builder that reads a plain table / folder (`evaluate --data`)
    peft_task_type: str | None  # peft's TaskType name (None: a custom model, head in modules_to_save)
    peft_auto_class: str  # what the card's plain-peft snippet loads an adapter with
    # `fieldtune baseline`: "tfidf" (scikit-learn on word + character TF-IDF; `fieldtune.baselines`),
    # "probe" (a linear head on the frozen backbone's cached features, the normal run), None: none
    baseline: str | None = None
    # the baseline as a method row of the normal run (image: "probe"); None: fitted outside transformers
    baseline_method: str | None = None
    # `export --quantize int8`: "dynamic" (weights int8, activations quantised per batch: transformer
    # matmuls) or "static" (weights and activations int8 with scales calibrated on training inputs, QDQ:
    # convolutions, where dynamic quantisation ran at 0.23x fp32 and lost 8 points on MobileNetV2)
    quantization: str = "dynamic"
    # `model.pooling: cls | mean` chooses which token states the head reads (a sequence of tokens)
    token_pooling: bool = False
    # `distill.teacher`: a teacher's soft targets ride in the training batches (the text collator carries them)
    soft_targets: bool = False
    # `pretraining.epochs`: the transformers Auto class of continued self-supervised pre-training of the
    # backbone (text: masked LM) and its table of model types; None: the inputs have no such phase
    pretraining_class: str | None = None
    pretraining_types: str | None = None
    # the card's curl line for `fieldtune serve`: what a request to /predict sends
    curl_data: str = """-H 'Content-Type: application/json' -d '{"texts": ["your text"]}'"""
    # an input is a file read by its path (predict --input: a folder, glob or list; serve: uploads or base64),
    # not a table's text (data.text_columns / label_columns, predict --text / --text-column)
    files: bool = False
    request_field: str = "texts"  # the JSON / form field a request to `fieldtune serve` sends inputs in
    # predict's columns: the input's own before the task's, and after them (a file that cannot be read)
    predict_input: str = "text"
    predict_after: tuple[str, ...] = ()
    progress_unit: str = "row"
    # `--test-time` views (flips, crops) averaged per prediction: predict, evaluate, serve, ONNX
    test_time_views: bool = False
    # `training.mixup_alpha` / `cutmix_alpha` mix pairs of these inputs (and their labels)
    mixing: bool = False
    # token sequences: `model.max_length` is checked against the checkpoint's positions, and the tokenizer's
    # coverage of the texts (unknown tokens, truncation) is reported
    tokens: bool = False
    trainer_args: tuple[tuple[str, Any], ...] = ()  # TrainingArguments for these inputs (a recipe overrides)
    # the ONNX graph: its dynamic axes (every input), and the README's lines that build its feed (`str.format`:
    # `{name}` is the export folder, literal braces doubled)
    onnx_axes: tuple[str, ...] = ("batch",)
    onnx_feed: str = ""
    # the card's adapter snippet: what `AutoConfig.from_pretrained` takes besides the label fields
    card_config_args: str = ""
    # recipe keys (section, key) only these inputs read: a run of other inputs leaves them out of its
    # config.yaml and card (one recipe may serve several tasks; the saved config shows what the run used)
    own_keys: tuple[tuple[str, str], ...] = ()

    @property
    def fitted_baseline(self) -> bool:
        """A baseline fitted on the raw inputs outside transformers (TF-IDF): what the ensemble mixes in and the
        validation guard compares against."""
        return self.baseline is not None and self.baseline_method is None


TEXT = Modality(
    name="text",
    auto_class="AutoModelForSequenceClassification",
    model_types="MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES",
    backbone="text (BERT-like)",
    processor="tokenizer",
    processor_class="AutoTokenizer",
    default_builder="text_table",
    peft_task_type="SEQ_CLS",
    peft_auto_class="AutoPeftModelForSequenceClassification",
    baseline="tfidf",
    token_pooling=True,
    soft_targets=True,
    pretraining_class="AutoModelForMaskedLM",
    pretraining_types="MODEL_FOR_MASKED_LM_MAPPING_NAMES",
    tokens=True,
    trainer_args=(("train_sampling_strategy", "group_by_length"),),  # similar lengths per batch: less padding
    onnx_axes=("batch", "sequence"),
    onnx_feed=(
        "from tokenizers import Tokenizer\n\n"
        'tok = Tokenizer.from_file("{name}/tokenizer.json")\n'
        "tok.enable_padding()\n"
        'enc = tok.encode_batch(["20 pallets of frozen fish"])\n'
        "names = [i.name for i in session.get_inputs()]\n"
        'feed = {{"input_ids": [e.ids for e in enc], "attention_mask": [e.attention_mask for e in enc],\n'
        '        "token_type_ids": [e.type_ids for e in enc]}}\n'
        "feed = {{k: np.asarray(v, dtype=np.int64) for k, v in feed.items() if k in names}}\n"
    ),
    own_keys=(
        ("model", "max_length"),
        ("model", "pooling"),
        ("method", "freeze_embeddings"),
        ("data", "text_columns"),
        ("data", "language"),
        ("data", "encoding"),
        ("data", "normalize"),
        ("data", "max_unknown_rate"),
        ("data", "allow_unknown_tokens"),
        ("pretraining", "epochs"),
        ("pretraining", "learning_rate"),
        ("pretraining", "mlm_probability"),
        ("pretraining", "extra_texts"),
        ("pretraining", "extra_texts_column"),
    ),
)
IMAGE = Modality(
    name="image",
    auto_class="AutoModelForImageClassification",
    model_types="MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES",
    backbone="vision (ViT / ResNet / ConvNeXt)",
    processor="image processor",
    processor_class="AutoImageProcessor",
    default_builder="image_folder",
    peft_task_type=None,
    peft_auto_class="AutoPeftModel",
    baseline="probe",
    baseline_method="probe",
    quantization="static",
    curl_data="-F images=@photo.jpg",
    files=True,
    request_field="images",
    predict_input="file",
    predict_after=("error",),
    progress_unit="img",
    test_time_views=True,
    mixing=True,
    onnx_feed=(
        "# pixel_values: float32 (batch, 3, H, W), resized and normalised as preprocessor_config.json says\n"
        'feed = {{"pixel_values": pixel_values}}\n'
    ),
    # the input size the run trained at (its position embeddings come with the adapter)
    card_config_args=", image_size=config.image_size, ignore_mismatched_sizes=True",
    own_keys=(
        ("data", "image_column"),
        ("data", "image_size"),
        ("data", "augment"),
        ("training", "mixup_alpha"),
        ("training", "cutmix_alpha"),
    ),
)

MODALITIES = (TEXT, IMAGE)  # every kind of input; a method applies to all unless its row says otherwise


@dataclass(frozen=True)
class Task:
    name: str
    inputs: Modality
    problem_type: str  # transformers' `config.problem_type`: it picks the head's loss
    targets: Targets  # one of `fieldtune.targets.TARGETS`: classes, tags or values
    primary_metric: str
    greater_is_better: bool
    pipeline_tag: str  # the card's `pipeline_tag`
    model_index_type: str  # the task type in the card's model-index
    usage: str  # the card's plain-transformers snippet (REPO_ID is filled in)

    @property
    def modality(self) -> str:
        return self.inputs.name

    @property
    def auto_class(self) -> str:
        return self.inputs.auto_class


TEXT_PIPELINE = """from transformers import pipeline

clf = pipeline("text-classification", model="REPO_ID")
clf("your text")"""
IMAGE_PIPELINE = """from transformers import pipeline

clf = pipeline("image-classification", model="REPO_ID")
clf("photo.jpg")"""
TEXT_VALUE = """import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

tok = AutoTokenizer.from_pretrained("REPO_ID")
model = AutoModelForSequenceClassification.from_pretrained("REPO_ID")
with torch.no_grad():
    value = model(**tok(["your text"], return_tensors="pt")).logits[0, 0].item()  # in target units"""
IMAGE_VALUE = """import torch
from PIL import Image
from transformers import AutoImageProcessor, AutoModelForImageClassification

processor = AutoImageProcessor.from_pretrained("REPO_ID")
model = AutoModelForImageClassification.from_pretrained("REPO_ID")
with torch.no_grad():
    pixels = processor(Image.open("photo.jpg").convert("RGB"), return_tensors="pt")
    value = model(**pixels).logits[0, 0].item()  # in target units"""

TEXT_TAGS = """from transformers import pipeline

clf = pipeline("text-classification", model="REPO_ID", top_k=None)  # a sigmoid score for every label
clf("your text")  # keep the labels whose score reaches their threshold (see the per-label table; 0.5 if none)"""
IMAGE_TAGS = """from transformers import pipeline

clf = pipeline("image-classification", model="REPO_ID", top_k=None)  # a sigmoid score for every label
clf("photo.jpg")  # keep the labels whose score reaches their threshold (see the per-label table; 0.5 if none)"""

TASKS: dict[str, Task] = {
    "text-classification": Task(
        "text-classification", TEXT, "single_label_classification", TARGETS["classes"], "f1_macro", True,
        "text-classification", "text-classification", TEXT_PIPELINE,
    ),
    "text-regression": Task(
        "text-regression", TEXT, "regression", TARGETS["values"], "rmse", False,
        "text-classification", "text-classification", TEXT_VALUE,
    ),
    "text-multilabel": Task(
        "text-multilabel", TEXT, "multi_label_classification", TARGETS["tags"], "f1_macro", True,
        "text-classification", "text-classification", TEXT_TAGS,
    ),
    "image-classification": Task(
        "image-classification", IMAGE, "single_label_classification", TARGETS["classes"], "f1_macro", True,
        "image-classification", "image-classification", IMAGE_PIPELINE,
    ),
    "image-multilabel": Task(
        "image-multilabel", IMAGE, "multi_label_classification", TARGETS["tags"], "f1_macro", True,
        "image-classification", "image-classification", IMAGE_TAGS,
    ),
    "image-regression": Task(
        "image-regression", IMAGE, "regression", TARGETS["values"], "rmse", False,
        "image-classification", "image-classification", IMAGE_VALUE,
    ),
}  # fmt: skip


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise ConfigError(f"`task`: unknown task {name!r}; choose one of {', '.join(TASKS)}.")
    return TASKS[name]


def task_of_model(config: Any) -> Task | None:
    """The task a saved model does, read from its config (architectures + problem_type); None if none fits."""
    archs = " ".join(getattr(config, "architectures", None) or [])
    for task in TASKS.values():
        head = task.auto_class.removeprefix("AutoModelFor")
        if archs and head not in archs:
            continue
        problem = getattr(config, "problem_type", None) or (
            "regression" if getattr(config, "num_labels", 2) == 1 else "single_label_classification"
        )
        if problem == task.problem_type:
            return task
    return None
