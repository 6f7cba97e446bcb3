"""Using a trained model: load a run / model folder / Hub id, predict, evaluate on a dataset split."""
