"""The Hugging Face Hub: repos.py (repo ids, token, push and pull), eval_results.py (`.eval_results/*.yaml`),
pull_folder.py (the `--out` folder of a pull)."""
