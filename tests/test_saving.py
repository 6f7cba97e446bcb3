"""Saving with gathered weights: what an FSDP run's rank 0 saves is the full state dict every process
gathered, not its own shards (FSDP itself needs GPUs; the plumbing is checked here on CPU)."""

from __future__ import annotations

import torch
from peft import LoraConfig, get_peft_model
from transformers import BertConfig, BertForSequenceClassification

from fieldtune.rundir.saving import save_model

CONFIG = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                    intermediate_size=32, num_labels=3)  # fmt: skip


def test_full_model_saves_the_given_state_dict(tmp_path):
    model = BertForSequenceClassification(CONFIG)
    gathered = {k: v + 1.0 for k, v in model.state_dict().items()}
    save_model(
        model, None, tmp_path / "model", "tiny", state_dict=dict(gathered)
    )  # save_pretrained pops keys
    saved = BertForSequenceClassification.from_pretrained(tmp_path / "model").state_dict()
    key = "classifier.weight"
    torch.testing.assert_close(saved[key], gathered[key])
    assert not torch.equal(saved[key], model.state_dict()[key])


def test_lora_model_saves_the_adapter_of_the_given_state_dict(tmp_path):
    from peft import PeftModel

    torch.manual_seed(0)
    model = get_peft_model(BertForSequenceClassification(CONFIG), LoraConfig(r=2, target_modules=["query"],
                                                                               modules_to_save=["classifier"]))  # fmt: skip
    gathered = {k: v + 0.5 if "lora_B" in k else v for k, v in model.state_dict().items()}
    save_model(model, None, tmp_path / "model", "tiny", state_dict=dict(gathered))
    base = BertForSequenceClassification(CONFIG)
    reloaded = PeftModel.from_pretrained(base, tmp_path / "model").state_dict()
    lora_b = next(k for k in gathered if "lora_B" in k)
    torch.testing.assert_close(reloaded[lora_b], gathered[lora_b])
    assert float(reloaded[lora_b].abs().sum()) > 0  # lora_B starts at zero: the gathered one was saved
