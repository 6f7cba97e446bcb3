"""fieldtune: fine-tune BERT, ViT and ResNet models for field industries with one command."""

__version__ = "0.1.0"
