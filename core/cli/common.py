"""What every verb shares: the one-line argument errors, the store flags, plain-text helpers."""

from __future__ import annotations

import argparse
import json
import math
import unicodedata
from pathlib import Path

from core.config import ConfigError
from core.data import DATASETS, default_data_dir
from core.runs import default_checkpoints_dir

EXIT_USAGE = 2
DATASET_HELP = f"{', '.join(DATASETS)}, or a dataset made with `data add`"


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, no usage dump
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, help=f"data root (default: $DATA_DIR or {default_data_dir()})")


def add_checkpoints(parser: argparse.ArgumentParser, **options) -> None:
    """``--checkpoints``; ``default=argparse.SUPPRESS`` for a subcommand whose parent takes it too (a
    subcommand's own default would replace what was given before it: `queue --checkpoints X list`)."""
    parser.add_argument(
        "--checkpoints",
        type=Path,
        help=f"run store (default: $CHECKPOINTS_DIR or {default_checkpoints_dir()})",
        **options,
    )


def add_json(parser: argparse.ArgumentParser, what: str = "machine-readable output", **options) -> None:
    parser.add_argument("--json", action="store_true", help=what, **options)


def add_run(parser: argparse.ArgumentParser, what: str = "a run id or a run folder") -> None:
    parser.add_argument("run", help=what)
    add_checkpoints(parser)


def print_json(value) -> None:
    print(json.dumps(value, indent=2, allow_nan=False))


def percent(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.2%}"


def printable(text: object) -> str:
    """``text`` for a terminal: control characters and line breaks (a newline in a folder's name, an escape
    sequence that would retitle the window or clear the screen) written as ``\\x1b``-style escapes, the rest
    (accents, other scripts, joiners, no-break spaces) as it is."""
    return "".join(
        character.encode("unicode_escape").decode("ascii") if unicodedata.category(character) in _BREAKS else character
        for character in str(text)
    )


_BREAKS = ("Cc", "Zl", "Zp")  # controls (C0, DEL, C1), and the line and paragraph separators


def text_table(rows: list[tuple], header: tuple[str, ...], left: int = 1) -> str:
    """Rows as aligned plain-text columns: the first ``left`` columns left-aligned, the rest right. Each cell
    is ``printable``: one line, whatever a file on disk held."""
    cells = [tuple(printable(cell) for cell in row) for row in [header, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    return "\n".join(
        "  ".join(
            cell.ljust(w) if i < left else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in cells
    )


def class_index(name_or_index: str | None, classes: tuple[str, ...]) -> int | None:
    """A class given by name (or by its number) → its index; None stays None (any class)."""
    if name_or_index is None:
        return None
    if name_or_index in classes:
        return classes.index(name_or_index)
    if name_or_index.isdigit() and int(name_or_index) < len(classes):
        return int(name_or_index)
    raise ConfigError(f"unknown class {name_or_index!r}; choose one of: {', '.join(classes)}")
