"""`model.pooling: mean` beyond one class per text (issue 35): an MPNet backbone (the issue's model, whose own
head reads token 0 inside), regression in real units, label sets with their thresholds and the ensemble
with the TF-IDF baseline, each loaded
by fieldtune and, where the format promises it, by plain transformers with `trust_remote_code=True`."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from fieldtune.config import MethodConfig, ModelConfig
from fieldtune.inference.load import load_for_inference, predict_logits, text_batches
from fieldtune.modeling.create import create_model
from fieldtune.tasks.table import get_task
from fieldtune.training.run import run
from tests.test_pooling import plain_transformers
from tests.test_train_text import TEXTS, text_config

pytestmark = pytest.mark.slow


def test_mean_pooling_wraps_an_mpnet_backbone(tmp_path):
    from transformers import AutoModelForSequenceClassification, MPNetConfig, MPNetModel

    torch.manual_seed(0)
    config = MPNetConfig(vocab_size=50, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=64)  # fmt: skip
    MPNetModel(config).save_pretrained(tmp_path / "mpnet")
    cfg = ModelConfig(name_or_path=str(tmp_path / "mpnet"), max_length=32, pooling="mean")
    model, _ = create_model(cfg, get_task("text-classification"), ["a", "b"], MethodConfig())
    model.eval()
    assert model.backbone.pooler is None and model.config.backbone["model_type"] == "mpnet"
    ids = torch.tensor([[0, 5, 6, 7, 2, 1, 1], [0, 9, 2, 1, 1, 1, 1]])  # MPNet pads with id 1
    mask = (ids != 1).long()
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=mask).logits
        hidden = MPNetModel.from_pretrained(tmp_path / "mpnet").eval()(input_ids=ids, attention_mask=mask)
        m = mask.unsqueeze(-1).float()
        pooled = (hidden.last_hidden_state * m).sum(1) / m.sum(1)
        np.testing.assert_allclose(logits, model.classifier(pooled), atol=1e-5)
        model.save_pretrained(tmp_path / "saved")
        reloaded = AutoModelForSequenceClassification.from_pretrained(tmp_path / "saved").eval()
        np.testing.assert_allclose(reloaded(input_ids=ids, attention_mask=mask).logits, logits, atol=1e-6)


def test_mean_pooled_regression_predicts_real_units_in_plain_transformers(tiny_bert, tmp_path):
    cfg = text_config(
        tiny_bert, task="text-regression", model={"pooling": "mean"}, training={"num_train_epochs": 1}
    )
    result = run(cfg, output_dir=tmp_path / "reg")
    preds = pd.read_csv(result.run_dir / "predictions.csv")
    texts = preds["text"].tolist()[:8]
    loaded = load_for_inference(result.run_dir)
    ours = predict_logits(loaded, text_batches(loaded, texts))[:, 0]
    np.testing.assert_allclose(ours, preds["predicted"].to_numpy()[:8], rtol=1e-3, atol=1e-2)
    theirs = np.asarray(plain_transformers(result.run_dir / "model", texts)["logits"])[:, 0]
    np.testing.assert_allclose(theirs, ours, atol=1e-4)  # the target's scale is folded into the head


def test_mean_pooled_ensemble_loads_as_the_run_scored_it(tiny_bert, tmp_path):
    cfg = text_config(tiny_bert, model={"pooling": "mean"}, ensemble={"baseline_weight": 0.5})
    result = run(cfg, output_dir=tmp_path / "ensemble")
    assert result.results["pooling"] == "mean" and result.results["ensemble"]["baseline_weight"] == 0.5
    rows = pd.read_csv(result.run_dir / "predictions.csv")
    loaded = load_for_inference(result.run_dir)  # the transformer and the baseline in one call
    assert type(loaded.model).__name__ == "EnsembleModel"
    assert type(loaded.model.model).__name__ == "MeanPooledForSequenceClassification"
    logits = predict_logits(loaded, text_batches(loaded, rows["text"].tolist()))
    assert [loaded.label_names[i] for i in logits.argmax(1)] == rows["predicted"].tolist()
    alone = load_for_inference(result.run_dir, ensemble=False)
    theirs = plain_transformers(result.run_dir / "model", TEXTS)  # plain transformers: the transformer alone
    np.testing.assert_allclose(predict_logits(alone, text_batches(alone, TEXTS)), theirs["logits"], atol=1e-5)


def test_mean_pooled_label_sets_keep_their_thresholds_and_plain_scores(tiny_bert, tmp_path):
    import json

    from tests.test_multilabel import tag_config, vocab_words, write_tagged

    data = write_tagged(tmp_path / "notes.jsonl", vocab_words(tiny_bert), n=120)
    config = tag_config(tiny_bert, data, num_train_epochs=3)
    config.model.pooling = "mean"
    result = run(config, output_dir=tmp_path / "tags")
    saved = json.loads((result.run_dir / "model" / "config.json").read_text())
    assert saved["model_type"] == "fieldtune_mean_pooled" and len(saved["fieldtune_thresholds"]) == 3
    loaded = load_for_inference(result.run_dir)
    texts = pd.read_csv(result.run_dir / "predictions.csv")["text"].tolist()[:6]
    ours = predict_logits(loaded, text_batches(loaded, texts))
    theirs = plain_transformers(result.run_dir / "model", texts)
    np.testing.assert_allclose(ours, theirs["logits"], atol=1e-5)
    sigmoid = 1 / (1 + np.exp(-ours))
    for row, served in zip(sigmoid, theirs["pipeline"], strict=True):  # the pipeline's sigmoid scores
        scores = {s["label"]: s["score"] for s in served}
        np.testing.assert_allclose([scores[n] for n in loaded.label_names], row, atol=1e-5)
