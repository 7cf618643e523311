"""``python -m core predict RUN FOLDER|FILES...``: classify pictures, prepared as the run's dataset was."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from core.cli.common import add_json, add_run, percent, print_json, text_table
from core.config import ConfigError
from core.runs import load_run


def register(commands) -> None:
    classify = commands.add_parser(
        "predict",
        help="classify pictures: files or folders (prepared as the run's dataset was)",
        description="One picture: its three likeliest classes. Several, or a folder: one row each, "
        "least confident first.",
    )
    add_run(classify)
    classify.add_argument("images", type=Path, nargs="+", help="PNG, JPEG, GIF, BMP or WebP files, or folders of them")
    classify.add_argument("--csv", type=Path, help="write every picture's row (and each class's probability) here")
    add_json(classify)
    classify.set_defaults(handler=run)


def run(args) -> int:
    from core.batchpredict import classify_pictures, picture_files, read_pictures, results_frame

    run_folder = load_run(args.run, args.checkpoints)
    try:
        files, missing = picture_files(args.images)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    pictures, unreadable = read_pictures(files)
    results, unusable = classify_pictures(run_folder, pictures)
    skipped = missing + unreadable + unusable
    for name, why in skipped:
        print(f"skipped {name}: {why}", file=sys.stderr)
    if not results:
        raise ConfigError("no picture could be classified")
    classes = run_folder.config.classes
    if len(results) == 1 and len(args.images) == 1 and args.images[0].is_file() and not args.csv:
        return _one_picture(results[0].probs, classes, args.json)
    frame = results_frame(results, classes)
    if args.csv:
        frame.to_csv(args.csv, index=False)
    if args.json:
        print_json(frame.to_dict(orient="records"))
        return 0
    rows = [
        (r.file, r.predicted, percent(r.confidence), f"{r.runner_up} {percent(r.runner_up_probability)}")
        for r in frame.itertuples()
    ]
    print(text_table(rows, ("file", "predicted", "confidence", "runner-up"), left=2))
    print(f"{len(results)} pictures, least confident first" + (f"; {len(skipped)} skipped" if skipped else ""))
    return 0


def _one_picture(probs: np.ndarray, classes, as_json: bool) -> int:
    ranked = [{"class": classes[i], "probability": float(probs[i])} for i in np.argsort(-probs)]
    if as_json:
        print_json(ranked)
        return 0
    for row in ranked[:3]:
        print(f"{row['class']:>14}  {row['probability']:.2%}")
    return 0
