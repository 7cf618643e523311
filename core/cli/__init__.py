"""Command line: ``python -m core <verb> ...``, one module per verb, a verb per page.

Each verb module has ``register(commands)`` (its parser, with ``handler`` set) and its handler.
Bad arguments print one line saying what is wrong and what is allowed, and exit with 2.
"""

from __future__ import annotations

import contextlib
import os
import sys

from core.cli import (
    card,
    compare,
    confusion,
    curves,
    data,
    dataset,
    embed,
    errors,
    evaluate,
    importing,
    label_issues,
    leaks,
    models,
    predict,
    queue,
    reproduce,
    runs,
    saliency,
    seeds,
    sweep,
    train,
)
from core.cli.common import EXIT_USAGE, Parser, printable
from core.config import ConfigError
from core.data import DataError
from core.runs import RunError
from core.storage import describe_error

# In the order `python -m core --help` lists them.
VERBS = (
    data,
    dataset,
    leaks,
    models,
    train,
    queue,
    sweep,
    importing,
    reproduce,
    seeds,
    runs,
    evaluate,
    curves,
    confusion,
    errors,
    saliency,
)
VERBS += (label_issues, embed, compare, predict, card)


def build_parser() -> Parser:
    parser = Parser(prog="python -m core", description="Train and evaluate MNIST-family classifiers.")
    commands = parser.add_subparsers(title="commands", parser_class=Parser)
    for verb in VERBS:
        verb.register(commands)
    return parser


@contextlib.contextmanager
def _data_root(data_dir):
    """``--data-dir`` as the data root of every lookup while the verb runs (a user's dataset's record
    lives in it), and the environment as it was afterwards (``main`` is also called in-process)."""
    if not data_dir:
        yield
        return
    before = os.environ.get("DATA_DIR")
    os.environ["DATA_DIR"] = str(data_dir)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("DATA_DIR", None)
        else:
            os.environ["DATA_DIR"] = before


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help()
        return EXIT_USAGE
    try:
        with _data_root(getattr(args, "data_dir", None)):
            return args.handler(args)
    except (ConfigError, DataError, RunError) as error:
        print(f"error: {printable(error)}", file=sys.stderr)
        return EXIT_USAGE if isinstance(error, ValueError) else 1  # a ValueError is bad input (ConfigError is one)
    except BrokenPipeError:  # e.g. `python -m core runs | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as error:  # a full or read-only disk, a folder that can't be made: one line, no traceback
        print(f"error: {describe_error(error)}", file=sys.stderr)
        return 1
