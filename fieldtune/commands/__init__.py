"""One module per CLI verb: `add_arguments(parser)` and `main(args) -> exit code`."""

import argparse


def add_test_time_argument(p: argparse.ArgumentParser) -> None:
    """`--test-time` of the verbs that score images (predict, evaluate)."""
    p.add_argument(
        "--test-time",
        choices=["none", "flips", "dihedral"],
        help="Images: average the 4 flips / all 8 flips and rotations (default: as the run was evaluated).",
    )
