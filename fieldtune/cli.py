"""The `fieldtune` command: one verb per module in `fieldtune/commands/`.

A user mistake prints one line (`fieldtune: error: ...`) and exits with code 2; `--debug` shows the traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from fieldtune import __version__, redact
from fieldtune.errors import FieldtuneError, file_system_error

COMMANDS = (
    "train", "baseline", "evaluate", "predict", "export", "serve", "push", "pull", "leaderboard", "sweep", "demo",
    "data",
)  # fmt: skip
OVERRIDES_HELP = (
    "Any recipe key can be set on the command line as --section.key=value (or --section.key value), e.g. "
    "--training.num_train_epochs=1 --data.path=notes.csv --method.name=lora; an unknown key fails with the "
    "nearest valid one named."
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own errors follow the one-line, exit-2 rule too
        raise FieldtuneError(f"{message} (see `{self.prog} --help`)")


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = _Parser(
        prog="fieldtune", description="Fine-tune BERT / ViT / ResNet models for field industries."
    )
    parser.add_argument("--version", action="version", version=f"fieldtune {__version__}")
    parser.add_argument("--debug", action="store_true", help="Show full tracebacks and debug logs.")
    parser.add_argument(
        "--quiet", action="store_true", help="No progress bars or progress lines, warnings and results only."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        module = importlib.import_module(f"fieldtune.commands.{name}")
        summary = " ".join((module.__doc__ or "").split("\n\n")[0].split()) or None  # its first paragraph
        p = sub.add_parser(name, help=summary, description=summary)
        p.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
        # SUPPRESS: `fieldtune --quiet train` is not reset to False by the sub-parser's default
        p.add_argument("--quiet", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        module.add_arguments(p)
        if p.get_default("accepts_overrides"):
            p.epilog = OVERRIDES_HELP
        p.set_defaults(func=module.main)
    return parser


def _own_info_only(record: logging.LogRecord) -> bool:
    """fieldtune's own INFO lines; the libraries' (onnx_ir / onnxscript passes, HTTP requests, ...) only from
    WARNING up: their chatter is for --debug."""
    return record.levelno >= logging.WARNING or record.name.split(".")[0] == "fieldtune"


def _setup_logging(debug: bool, quiet: bool = False) -> None:
    from fieldtune import progress

    progress.set_quiet(quiet)
    root = logging.getLogger()
    before = list(root.handlers)
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING if quiet else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not debug:  # on the handler basicConfig made (none when a host, e.g. pytest, has its own)
        for handler in root.handlers:
            if handler not in before:
                handler.addFilter(_own_info_only)
    if not debug:
        import warnings

        # Deprecation notices of the libraries (e.g. transformers' `is_gradient_checkpointing` on every LoRA
        # load) are for their callers, fieldtune, not for its users: --debug shows them.
        for category in (FutureWarning, DeprecationWarning):
            warnings.filterwarnings("ignore", category=category)
        # transformers' and datasets' own messages and bars off (the "newly initialised weights" notice is
        # expected when a head is replaced); fieldtune draws its own progress (`fieldtune.progress`).
        # Through their environment variables, not their APIs: importing transformers to call them takes
        # seconds (torch), and a mistake in the recipe is reported before that.
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        if "transformers" in sys.modules:  # already imported (fieldtune used as a library, tests)
            from transformers.utils import logging as hf_logging

            hf_logging.set_verbosity_error()
            hf_logging.disable_progress_bar()
        if "datasets" in sys.modules:
            import datasets

            datasets.disable_progress_bars()


# Flags naming a file or folder to write. A shell expands `~` only at the start of a word, so `--out=~/x`
# (or a quoted "~/x") would otherwise create a folder named `~` in the working directory.
WRITE_PATH_FLAGS = ("out", "output", "output_dir", "storage", "cache_dir")


def _expand_home(args: argparse.Namespace) -> None:
    for name in WRITE_PATH_FLAGS:
        value = getattr(args, name, None)
        if isinstance(value, str) and value.startswith("~"):
            setattr(args, name, os.path.expanduser(value))


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    redact.install()  # no password or token in any log line, warning or traceback (--debug included)
    try:
        parser = build_parser()
        args, rest = parser.parse_known_args(argv)
        if args.command is None:
            parser.print_help()
            return 2
        if rest and not getattr(args, "accepts_overrides", False):
            raise FieldtuneError(
                f"unrecognised arguments: {' '.join(rest)} (see `fieldtune {args.command} --help`)"
            )
        args.overrides = rest
        _expand_home(args)
        _setup_logging(debug, quiet=getattr(args, "quiet", False))
        return int(args.func(args) or 0)
    except FieldtuneError as e:
        if debug:
            raise
        print(f"fieldtune: error: {e}", file=sys.stderr)
        return e.exit_code
    except OSError as e:  # a file-system failure no check foresaw (disk full, permissions): still one line
        if debug or e.errno is None:  # no errno: not the file system (e.g. a network error), a real bug
            raise
        error = file_system_error(e)
        print(f"fieldtune: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("fieldtune: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
