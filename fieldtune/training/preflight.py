"""The one preflight of a training run: everything that can be checked without data or weights.

A wrong run directory, a missing integration package, a missing Hub token or a model that cannot do the
task costs the user a second, not a dataset load and a training run. It never imports the datasets
library, and imports torch only when reading the model's config.json (transformers 5's config classes
import it), so `fieldtune train` runs it before the data loads; `run()` runs it when no caller did.
"""

from __future__ import annotations

from pathlib import Path

from fieldtune.config import RunConfig
from fieldtune.tasks.table import Task, get_task


def resolve_run_dir(config: RunConfig, output_dir: str | Path | None) -> Path:
    """`--output-dir DIR` makes DIR the run directory itself; else `output_dir/name`."""
    if output_dir is not None:
        return Path(output_dir)
    return Path(config.output_dir) / (config.name or "run")


def preflight(
    config: RunConfig, run_dir: Path, overwrite: bool = False, resume: bool = False, model: bool = True
) -> Task:
    """Check the run directory, integrations, Hub settings and (`model`) the model / task fit; the Task.

    `model=False` for runs that load no transformers model (the TF-IDF baseline)."""
    from fieldtune.rundir.layout import check_run_dir_free

    check_run_dir_free(run_dir, overwrite, resume)
    return check_recipe(config, model)


def check_recipe(config: RunConfig, model: bool = True) -> Task:
    """The preflight without the run directory (a sweep checks each trial's recipe before any trial runs)."""
    from fieldtune.config.packages import check_training_packages
    from fieldtune.errors import HubError
    from fieldtune.modeling.checkpoint import check_max_length, load_model_config, require_processor_files

    task = get_task(config.task)
    check_training_packages(config.training)  # a missing report_to / optim package fails now, not mid-way
    if config.hub.push:
        from fieldtune.hub.repos import check_repo_id, get_token

        check_repo_id(config.hub.repo_id, "hub.repo_id")
        if not get_token():
            raise HubError(
                "`hub.push` is true but no Hugging Face token was found: set HF_TOKEN or run `hf auth login` "
                "(with write access) before training, or pass --hub.push=false."
            )
    if not model:
        return task
    if config.distill.enabled:  # the teacher run's files, before the data and the student load
        from fieldtune.rundir.teacher import check_teacher

        check_teacher(config.distill.teacher, task.name)
    from fieldtune.tracking import check_tracking

    extra = getattr(config.training, "extra", None) or {}
    check_tracking(extra.get("report_to"))  # a tracking server that does not answer, W&B not logged in
    model_config = load_model_config(config.model.name_or_path, config.model.revision, task=task)
    require_processor_files(config.model.name_or_path, task)
    if task.inputs.tokens:
        check_max_length(model_config, config.model.max_length, config.model.name_or_path)
    return task
