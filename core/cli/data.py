"""``python -m core data fetch``: get and verify a dataset's files."""

from __future__ import annotations

import sys

from core.cli.common import Parser, add_data_dir
from core.data import DATASETS, default_data_dir


def register(commands) -> None:
    data = commands.add_parser("data", help="get the datasets")
    data_commands = data.add_subparsers(title="data commands", parser_class=Parser)
    fetch = data_commands.add_parser("fetch", help="fetch and verify the dataset files")
    fetch.add_argument("--dataset", choices=[*DATASETS, "all"], default="all")
    add_data_dir(fetch)
    fetch.set_defaults(handler=run_fetch)


def run_fetch(args) -> int:
    from core.fetch import FetchError, fetch

    root = args.data_dir or default_data_dir()
    names = list(DATASETS) if args.dataset == "all" else [args.dataset]
    status = 0
    for name in names:
        try:
            result = fetch(name, root)
        except FetchError as error:
            print(f"{name}: {error}", file=sys.stderr)
            status = 1
            continue
        print(f"{name}: ready in {result.folder} ({result.source}, MD5 verified)")
    return status
