"""Sweeps over a recipe: a grid of overrides or an Optuna search, one normal run directory per trial.

- `space`: the recipe, `--grid KEY=V1,V2` and SPACE.yaml, checked against the config schema; trial names
- `study`: the Optuna study (journal file or database storage), which sweep a folder holds, who runs what
- `trial`: one trial -> `fieldtune.training.run.run` (resumed from its checkpoint after a kill), pruning callback
- `report`: the sweep's leaderboard and `best.yaml` (chosen on validation)
- `runner`: `prepare_sweep` (every check, nothing written) and `run_sweep` (workers)

Example:
    >>> plan, manifest = prepare_sweep("recipe.yaml", grid=["method.name=full,lora"])
    >>> outcomes, text = run_sweep(plan, manifest)
"""

from fieldtune.sweep.runner import prepare_sweep, run_sweep, work

__all__ = ["prepare_sweep", "run_sweep", "work"]
