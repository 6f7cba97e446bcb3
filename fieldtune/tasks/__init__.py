"""The tasks fieldtune trains: table.py (the task table: `Task`, `get_task`), scoring.py (label names,
standardised targets, the Trainer's `compute_metrics`, on the task's targets)."""
