"""The model card: model-index that huggingface_hub parses, the metadata the Hub shows, a readable body."""

from __future__ import annotations

from huggingface_hub import ModelCard

from fieldtune.rundir.card import build_model_card

RESULTS = {
    "task": "text-classification", "dataset": "hs_codes", "split": "test", "method": "lora", "model": "runs/x",
    "base_model": "sentence-transformers/all-MiniLM-L6-v2", "trainable_params": 10, "total_params": 100,
    "precision": "fp32", "fieldtune_version": "0.1.0", "primary_metric": "f1_macro",
    "metrics": {"accuracy": 0.9, "f1_macro": 0.8, "per_class": {"I": {"precision": 1.0, "recall": 0.5, "f1": 0.67, "support": 4}}},
}  # fmt: skip
CONFIG = {
    "data": {"builder": "hs_codes"},
    "method": {"lora_r": 8, "lora_alpha": 16},
    "training": {"learning_rate": 1e-4},
}


def test_card_metadata_and_model_index():
    card = ModelCard(str(build_model_card(RESULTS, CONFIG, ["I", "II"], is_adapter=True, repo_id="org/hs")))
    data = card.data.to_dict()
    assert data["base_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert data["library_name"] == "peft" and data["pipeline_tag"] == "text-classification"
    assert data["datasets"] == ["hs_codes"] and set(data["metrics"]) == {"accuracy", "f1"}
    results = {(r.metric_type, r.dataset_split): r.metric_value for r in card.data.eval_results}
    assert results == {("accuracy", "test"): 0.9, ("f1", "test"): 0.8}
    for section in (
        "## Data",
        "## Method",
        "### Hyperparameters",
        "## Results",
        "### Per class",
        "confusion_matrix.png",
        "## Limitations",
        "## How to use",
        "AutoPeftModelForSequenceClassification",
        "org/hs",
    ):
        assert section in card.text, section


def test_card_for_local_base_model_has_no_base_model_field():
    card = build_model_card({**RESULTS, "base_model": "/tmp/my-bert"}, CONFIG, ["I"], is_adapter=False)
    assert "base_model" not in card.data.to_dict() and "pipeline(" in card.text


def test_how_to_use_gives_the_serve_curl_line():
    """`fieldtune serve` and the request that asks it: a JSON text for text models, an upload for images."""
    card = build_model_card(RESULTS, CONFIG, ["I", "II"], is_adapter=False, repo_id="org/hs")
    usage = card.text.split("## How to use", 1)[1]
    assert "fieldtune serve org/hs" in usage
    assert (
        """curl -s http://127.0.0.1:8000/predict -H 'Content-Type: application/json' -d '{"texts": ["your text"]}'"""
        in usage
    )
    image = {**RESULTS, "task": "image-classification", "dataset": "lithology"}
    usage = build_model_card(image, CONFIG, ["a", "b"], is_adapter=False).text.split("## How to use", 1)[1]
    assert (
        "fieldtune serve RUN_DIR" in usage
        and "curl -s http://127.0.0.1:8000/predict -F images=@photo.jpg" in usage
    )


def test_ensemble_card_is_marked_when_read_back_by_the_leaderboard():
    """The model-index has no field for an ensemble: the card carries it in its own metadata, and the
    leaderboard reads it from there, as it reads a local run's eval_results.json."""
    from fieldtune.leaderboard.collect import entries_from_card
    from fieldtune.leaderboard.kinds import kind_of

    ensemble = {
        "baseline_model": "word 1-2 + char_wb 2-5 TF-IDF + LinearSVC (C=1)", "baseline_weight": 0.5,
        "combination": "geometric mean", "transformer": {"accuracy": 0.8}, "baseline": {"accuracy": 0.7},
    }  # fmt: skip
    card = str(build_model_card({**RESULTS, "ensemble": ensemble}, CONFIG, ["I", "II"], False, "org/hs"))
    data = ModelCard(card).data.to_dict()
    assert data["fieldtune"] == {"ensemble": {k: ensemble[k] for k in ("baseline_model", "baseline_weight")}}
    assert "ensemble" in data["tags"]
    [entry] = entries_from_card("org/hs", card)
    assert kind_of(entry) == "ensemble: all-MiniLM-L6-v2 + TF-IDF LinearSVC (w 0.5)"
    plain_card = str(build_model_card(RESULTS, CONFIG, ["I", "II"], False, "org/hs"))
    assert "fieldtune" not in ModelCard(plain_card).data.to_dict()
    [plain] = entries_from_card("org/hs", plain_card)
    assert kind_of(plain) is None
