"""The model: create_model (the one door), fine-tuning methods (LoRA, freeze, probe), heads, precision."""
