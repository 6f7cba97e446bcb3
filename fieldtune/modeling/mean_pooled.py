"""A text classifier that reads the masked mean of the backbone's last hidden states (`model.pooling: mean`).

This file is saved beside the weights of every mean-pooled model (config.json `auto_map` points here), so
it imports only torch and transformers: plain transformers loads the folder with
`AutoModelForSequenceClassification.from_pretrained(folder, trust_remote_code=True)` (or `pipeline(...,
trust_remote_code=True)`) and predicts as fieldtune does. Its `model_type` is unknown to transformers, so
loading without `trust_remote_code=True` fails instead of classifying from the first token. fieldtune
registers these classes itself and never runs the copy in a model folder.

Pooling as sentence-transformers' `Pooling(pooling_mode_mean_tokens=True)`: padding tokens do not count.
The head: dropout -> Linear (fieldtune's `model.head: mlp` recorded as `fieldtune_head` is rebuilt here too).
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput

# keys of the backbone's config that describe the classifier around it or where it was read from
_NOT_BACKBONE = ("id2label", "label2id", "problem_type", "architectures", "num_labels", "auto_map",
                 "_name_or_path", "transformers_version")  # fmt: skip


class MeanPooledConfig(PretrainedConfig):
    """`backbone`: the backbone's own config as a dict (its `model_type` included)."""

    model_type = "fieldtune_mean_pooled"

    def __init__(self, backbone: dict | None = None, classifier_dropout: float = 0.1, **kwargs):
        self.backbone = {k: v for k, v in (backbone or {}).items() if k not in _NOT_BACKBONE}
        self.classifier_dropout = classifier_dropout
        self.pooling = "mean"
        kwargs.pop("pooling", None)
        super().__init__(**kwargs)

    def backbone_config(self) -> PretrainedConfig:
        spec = dict(self.backbone)
        return AutoConfig.for_model(spec.pop("model_type", "bert"), **spec)


def mean_of_tokens(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Average of the token states where `attention_mask` is 1 (a row of padding alone gives zeros); summed
    in float32 (hundreds of bf16 states lose digits), returned in the states' dtype."""
    mask = attention_mask.unsqueeze(-1).float()
    mean = (hidden.float() * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
    return mean.to(hidden.dtype)


def _mlp_head(linear: nn.Linear, spec: dict) -> nn.Module:
    hidden = int(spec["hidden_size"])
    return nn.Sequential(
        nn.Linear(linear.in_features, hidden),
        nn.GELU(),
        nn.Dropout(float(spec.get("dropout", 0.0))),
        nn.Linear(hidden, linear.out_features),
    )


class MeanPooledForSequenceClassification(PreTrainedModel):
    config_class = MeanPooledConfig
    base_model_prefix = "backbone"
    supports_gradient_checkpointing = True
    _supports_sdpa = True
    builds_fieldtune_head = True  # the `fieldtune_head` of config.json, built in __init__

    def __init__(self, config: MeanPooledConfig, backbone: nn.Module | None = None):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.backbone = backbone if backbone is not None else AutoModel.from_config(config.backbone_config())
        if getattr(self.backbone, "pooler", None) is not None:
            self.backbone.pooler = None  # first-token pooler: unused here
        self.dropout = nn.Dropout(config.classifier_dropout)
        self.classifier = nn.Linear(self.backbone.config.hidden_size, config.num_labels)
        spec = getattr(config, "fieldtune_head", None)
        if isinstance(spec, dict) and spec.get("type") == "mlp":
            self.classifier = _mlp_head(self.classifier, spec)
        self.post_init()

    def get_input_embeddings(self) -> nn.Module:
        return self.backbone.get_input_embeddings()

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        **kwargs,
    ) -> SequenceClassifierOutput:
        inputs = {"input_ids": input_ids, "inputs_embeds": inputs_embeds}
        if token_type_ids is not None:
            inputs["token_type_ids"] = token_type_ids
        if attention_mask is None:
            reference = input_ids if input_ids is not None else inputs_embeds[..., 0]
            attention_mask = torch.ones(reference.shape[:2], dtype=torch.long, device=reference.device)
        kwargs.pop("return_dict", None)
        outputs = self.backbone(attention_mask=attention_mask, return_dict=True, **inputs, **kwargs)
        pooled = mean_of_tokens(outputs.last_hidden_state, attention_mask)
        logits = self.classifier(self.dropout(pooled))
        loss = None if labels is None else self._loss(logits, labels)
        return SequenceClassifierOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )

    def _loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """As transformers' own sequence classifiers: the config's problem_type picks the loss."""
        problem = self.config.problem_type
        if problem is None:
            single = self.num_labels > 1 and labels.dtype in (torch.long, torch.int)
            problem = "regression" if self.num_labels == 1 else "single_label_classification" if single else (
                "multi_label_classification"
            )  # fmt: skip
        if problem == "regression":
            return nn.functional.mse_loss(logits.squeeze(-1), labels.squeeze(-1).to(logits.dtype))
        if problem == "single_label_classification":
            return nn.functional.cross_entropy(logits.view(-1, self.num_labels), labels.view(-1))
        return nn.functional.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype))
