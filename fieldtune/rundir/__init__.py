"""The run directory: layout and atomic writes, results, plots, the model card, saving the model."""
