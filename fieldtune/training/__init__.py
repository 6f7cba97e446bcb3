"""A training run: preflight.py (every check before data and weights), run.py (`run(config)`: the stages),
publish.py (a finished run to the Hub), launch.py (`--num-processes N` under accelerate launch)."""
