"""``python -m core data fetch|add``: get a dataset's files, or make your own pictures a dataset."""

from __future__ import annotations

import sys
from pathlib import Path

from core.cli.common import Parser, add_data_dir
from core.data import DATASETS, default_data_dir


def register(commands) -> None:
    data = commands.add_parser("data", help="get the datasets, or add your own")
    data_commands = data.add_subparsers(title="data commands", parser_class=Parser)
    fetch = data_commands.add_parser("fetch", help="fetch and verify the dataset files")
    fetch.add_argument("--dataset", choices=[*DATASETS, "all"], default="all")
    add_data_dir(fetch)
    fetch.set_defaults(handler=run_fetch)
    add = data_commands.add_parser(
        "add",
        help="make a folder of pictures (or an .npz of arrays) a dataset",
        description="FOLDER holds train/<class>/* and test/<class>/* (PNG, JPEG, GIF, BMP, WebP); "
        "an .npz holds x_train, y_train, x_test, y_test and optionally class_names.",
    )
    add.add_argument("name", help="the new dataset's name: lower-case letters, digits, '-' or '_'")
    add.add_argument("--from", dest="source", type=Path, required=True, help="FOLDER or arrays.npz")
    add.add_argument(
        "--prepare",
        choices=("resize", "mnist"),
        default="resize",
        help="resize: grayscale and resized to 28×28 (default); "
        "mnist: light ink on black, cropped, fitted to 20×20 and centred by mass, as MNIST's digits were",
    )
    add.add_argument("--title", help="the name pages show (default: NAME)")
    add_data_dir(add)
    add.set_defaults(handler=run_add)


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
        checked = "MD5 verified" if DATASETS[name].md5 else "archives MD5-checked"
        print(f"{name}: ready in {result.folder} ({result.source}, {checked})")
    return status


def run_add(args) -> int:
    from core.userdata import add_dataset, skipped_summary

    result = add_dataset(args.name, args.source, args.data_dir or default_data_dir(), args.prepare, args.title)
    info = result.info
    train, test = (sum(result.counts[split]) for split in ("train", "test"))
    print(f"{info.name}: {train:,} training and {test:,} test images of {info.num_classes} classes in {result.folder}")
    if result.skipped:
        print(skipped_summary(result.skipped))
    print(f"train on it: python -m core train --dataset {info.name} --preset quick")
    return 0
