"""Command line: ``python -m core data|models|train|runs|evaluate|label-issues|compare|predict|card|embed ...``.

Bad arguments print one line saying what is wrong and what is allowed, and exit with 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import signal
import sys
from pathlib import Path

import numpy as np

from core.config import DEVICES, KEEP_BEST_BY, OPTIMIZERS, SCHEDULES, ConfigError, TrainConfig
from core.data import DATASETS, DataError, default_data_dir
from core.models import MODELS
from core.presets import PRESETS, TUTORIAL_MODELS, preset_config, recipe_config
from core.runs import Run, RunError, default_checkpoints_dir, list_runs, load_run

EXIT_USAGE = 2
DEFAULT_MODEL = "two-conv-dropout"


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, no usage dump
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help()
        return EXIT_USAGE
    try:
        return args.handler(args)
    except (ConfigError, DataError, RunError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE if isinstance(error, ConfigError) else 1
    except BrokenPipeError:  # e.g. `python -m core runs | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def build_parser() -> Parser:
    parser = Parser(prog="python -m core", description="Train and evaluate MNIST-family classifiers.")
    commands = parser.add_subparsers(title="commands", parser_class=Parser)

    data = commands.add_parser("data", help="get the datasets")
    data_commands = data.add_subparsers(title="data commands", parser_class=Parser)
    fetch = data_commands.add_parser("fetch", help="fetch and verify the IDX files")
    fetch.add_argument("--dataset", choices=[*DATASETS, "all"], default="all")
    add_data_dir(fetch)
    fetch.set_defaults(handler=cmd_data_fetch)

    models = commands.add_parser("models", help="list the model architectures")
    models.add_argument("--json", action="store_true", help="machine-readable output")
    models.set_defaults(handler=cmd_models)

    train = commands.add_parser(
        "train",
        help="train a model and store the run",
        description="Values not given come from the preset, else from the model's recipe (`python -m core models`).",
    )
    train.add_argument("--dataset", choices=list(DATASETS), default="mnist")
    train.add_argument("--preset", help=f"one of: {', '.join(PRESETS)} (sets the model and its recipe)")
    train.add_argument("--model", help=f"one of: {', '.join(MODELS)} (default {DEFAULT_MODEL}, with its recipe)")
    train.add_argument("--epochs", type=int)
    train.add_argument("--batch-size", type=int)
    train.add_argument("--lr", type=float, help="(peak) learning rate")
    train.add_argument("--optimizer", choices=OPTIMIZERS)
    train.add_argument("--momentum", type=float)
    train.add_argument("--weight-decay", type=float)
    train.add_argument("--schedule", choices=SCHEDULES)
    train.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None, help="shifts and rotations")
    train.add_argument("--max-shift", type=int, help="pixels of random shift with --augment")
    train.add_argument(
        "--max-rotation", type=float, help="degrees of random rotation with --augment (0: whole-pixel shifts only)"
    )
    train.add_argument("--hflip", action=argparse.BooleanOptionalAction, default=None, help="random mirror images")
    train.add_argument("--label-smoothing", type=float)
    train.add_argument("--keep-best-by", choices=KEEP_BEST_BY, help="which epoch's weights to keep")
    train.add_argument("--train-subset", type=int, help="train on this many training images")
    train.add_argument("--seed", type=int)
    train.add_argument("--device", choices=DEVICES)
    train.add_argument("--threads", type=int, help="torch CPU threads (default: every core)")
    train.add_argument("--log-every", type=int, help="batches between two records of the batch loss")
    train.add_argument("--run-id", help="name of the run folder (default: date-dataset-model)")
    train.add_argument(
        "--run-dir", type=Path, help="train the run prepared in this folder (its config.json); used by the dashboard"
    )
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    add_data_dir(train)
    add_checkpoints(train)
    train.set_defaults(handler=cmd_train)

    reproduce = commands.add_parser(
        "reproduce", help="train every tutorial recipe and write results/reproduce.md (about 15 minutes on 2 cores)"
    )
    reproduce.add_argument("--model", action="append", choices=TUTORIAL_MODELS, help="only these (repeatable)")
    reproduce.add_argument("--keep-runs", type=Path, help="store the runs here (default: thrown away)")
    reproduce.add_argument("--results", type=Path, help="folder for reproduce.json and reproduce.md")
    reproduce.set_defaults(handler=cmd_reproduce)

    runs = commands.add_parser("runs", help="list the stored runs")
    runs.add_argument("--json", action="store_true", help="machine-readable output")
    add_checkpoints(runs)
    runs.set_defaults(handler=cmd_runs)

    evaluate = commands.add_parser("evaluate", help="recompute and store a run's test predictions")
    evaluate.add_argument("run", help="a run id or a run folder")
    evaluate.add_argument("--json", action="store_true", help="machine-readable output")
    evaluate.add_argument("--device", choices=DEVICES, default="auto")
    add_data_dir(evaluate)
    add_checkpoints(evaluate)
    evaluate.set_defaults(handler=cmd_evaluate)

    issues = commands.add_parser("label-issues", help="rank the images whose given label is probably wrong")
    issues.add_argument("run", help="a run id or a run folder (its predictions are used)")
    issues.add_argument("--split", choices=["test", "val"], default="test")
    issues.add_argument("--top", type=int, default=20, help="how many to print (default 20)")
    issues.add_argument(
        "--json", action="store_true", help="a list of {index, given, suggested, score, flagged}, most likely first"
    )
    add_data_dir(issues)
    add_checkpoints(issues)
    issues.set_defaults(handler=cmd_label_issues)

    compare = commands.add_parser("compare", help="what a second run fixed and broke against a first")
    compare.add_argument("run_a", help="the first run (id or folder)")
    compare.add_argument("run_b", help="the second run")
    compare.add_argument("--json", action="store_true", help="machine-readable output")
    add_checkpoints(compare)
    compare.set_defaults(handler=cmd_compare)

    classify = commands.add_parser("predict", help="classify an image file (prepared the MNIST way)")
    classify.add_argument("run", help="a run id or a run folder")
    classify.add_argument("image", type=Path, help="PNG, JPEG, GIF, BMP or WebP")
    classify.add_argument("--json", action="store_true", help="machine-readable output")
    add_checkpoints(classify)
    classify.set_defaults(handler=cmd_predict)

    card = commands.add_parser("card", help="a model's layers, output shapes and parameters; ONNX export")
    card.add_argument("model", help=f"a model name ({', '.join(MODELS)}) or a run id or folder")
    card.add_argument("--onnx", type=Path, help="also write the model (with the run's weights) as ONNX here")
    card.add_argument("--json", action="store_true", help="machine-readable output")
    add_checkpoints(card)
    card.set_defaults(handler=cmd_card)

    embed = commands.add_parser("embed", help="2-D map of the test images' penultimate-layer features (CSV)")
    embed.add_argument("run", help="a run id or a run folder")
    embed.add_argument("--method", choices=["pca", "tsne"], default="pca")
    embed.add_argument("--output", type=Path, help="CSV file (default: standard output)")
    add_data_dir(embed)
    add_checkpoints(embed)
    embed.set_defaults(handler=cmd_embed)
    return parser


def add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, help=f"data root (default: $DATA_DIR or {default_data_dir()})")


def add_checkpoints(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--checkpoints", type=Path, help=f"run store (default: $CHECKPOINTS_DIR or {default_checkpoints_dir()})"
    )


# --- commands -------------------------------------------------------------------------


def cmd_data_fetch(args) -> int:
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


def cmd_models(args) -> int:
    rows = [
        {
            "name": spec.name,
            "params": spec.num_params,
            "description": spec.description,
            "recipe": spec.recipe.overrides(),
            "recipe_source": spec.recipe.source,
            "reported": spec.reported,
        }
        for spec in MODELS.values()
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    width = max(len(row["name"]) for row in rows)
    for row in rows:
        recipe = row["recipe"]
        recipe_text = (
            f"{recipe['optimizer']} lr {recipe['lr']:g}, batch {recipe['batch_size']}, {recipe['epochs']} epochs"
        )
        print(f"{row['name']:<{width}}  {row['params']:>9,}  {row['description']}")
        print(f"{'':<{width}}  {'':>9}  recipe: {recipe_text}")
    return 0


def config_from_args(args) -> TrainConfig:
    """The preset's values (or the model's recipe), then every flag that was given."""
    if args.preset and args.model:
        raise ConfigError("give --preset or --model, not both (a preset names its model)")
    given = {
        field.name: getattr(args, field.name)
        for field in dataclasses.fields(TrainConfig)
        if field.name not in ("dataset", "model", "preset") and getattr(args, field.name, None) is not None
    }
    if args.preset:
        return preset_config(args.preset, args.dataset, **given)
    return recipe_config(args.model or DEFAULT_MODEL, args.dataset, **given)


def cmd_train(args) -> int:
    from tqdm import tqdm

    from core.data import load_dataset
    from core.jobs import release_lock
    from core.train import fit, start_run

    if args.run_dir:  # prepared by the dashboard: fit() itself marks the run failed if the data is missing
        run = Run(args.run_dir)
        config = TrainConfig.from_dict(run.config)
        config.validate()
        data = None
    else:
        config = config_from_args(args)
        data = load_dataset(config.dataset, args.data_dir)  # a missing dataset stops here, before any run folder
        run = start_run(config, args.checkpoints, run_id=args.run_id)
    # SIGTERM (a cancel from the dashboard) ends the run like Ctrl-C: marked cancelled, best weights kept.
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    bar = None

    def on_progress(progress) -> None:
        nonlocal bar
        if args.quiet:
            return
        if progress.kind == "batch":
            if bar is None:  # first report of an epoch
                bar = tqdm(
                    total=progress.batches,
                    initial=progress.batch,
                    unit="batch",
                    leave=False,
                    desc=f"epoch {progress.epoch}/{progress.epochs}",
                    file=sys.stderr,
                )
            bar.update(progress.batch - bar.n)
            bar.set_postfix(loss=f"{progress.loss:.4f}")
            return
        if bar is not None:
            bar.close()
            bar = None
        record = progress.record
        tqdm.write(
            f"epoch {record['epoch']}/{progress.epochs}: train loss {record['train_loss']:.4f} "
            f"acc {record['train_accuracy']:.2%} | val loss {record['val_loss']:.4f} "
            f"acc {record['val_accuracy']:.2%} | {record['seconds']:.1f} s",
            file=sys.stderr,
        )

    try:
        result = fit(config, run, data=data, on_progress=on_progress, data_dir=args.data_dir)
    finally:
        release_lock(run.path.parent, run.id)
    if bar is not None:
        bar.close()
    if result.state == "completed":
        print(f"completed: best epoch {result.best_epoch}, test accuracy {result.test_accuracy:.2%}", file=sys.stderr)
    else:
        print(f"{result.state}: {result.error}", file=sys.stderr)
    print(run.path)
    return {"completed": 0, "failed": 1, "cancelled": 130}[result.state]


def cmd_reproduce(args) -> int:
    from core.reproduce import RESULTS_DIR, reproduce, write_results

    def report(result) -> None:
        accuracy = f"{result.test_accuracy:.2%}" if result.test_accuracy is not None else result.state
        print(
            f"{result.model} on {result.dataset}: {accuracy} in {result.seconds:.0f} s (reported: {result.reported})",
            file=sys.stderr,
        )

    results = reproduce(args.model, args.keep_runs, on_result=report)
    _, markdown = write_results(results, args.results or RESULTS_DIR)
    print(markdown)
    return 0


def cmd_runs(args) -> int:
    summaries = list_runs(args.checkpoints)
    if args.json:
        print(json.dumps([dataclasses.asdict(s) for s in summaries], indent=2))
        return 0
    if not summaries:
        print(
            f"no runs in {args.checkpoints or default_checkpoints_dir()}; train one with: "
            "python -m core train --dataset mnist --model two-conv-dropout --epochs 1"
        )
        return 0
    rows = [
        (
            s.id,
            s.dataset or "?",
            s.model or "?",
            s.state,
            f"{s.epochs_done}/{s.epochs}" if s.epochs else str(s.epochs_done),
            _percent(s.best_val_accuracy),
            _percent(s.test_accuracy),
        )
        for s in summaries
    ]
    header = ("id", "dataset", "model", "state", "epochs", "best val", "test")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row, summary in zip([header, *rows], [None, *summaries], strict=False):
        print(
            "  ".join(
                cell.ljust(width) if i < 4 else cell.rjust(width)
                for i, (cell, width) in enumerate(zip(row, widths, strict=False))
            )
        )
        if summary is not None and summary.error and summary.state != "completed":
            print(f"    {summary.error}")
    return 0


def cmd_evaluate(args) -> int:
    from core.evaluate import evaluate_run
    from core.train import resolve_device

    run = load_run(args.run, args.checkpoints)
    test_accuracy = evaluate_run(run, args.data_dir, resolve_device(args.device))
    if args.json:
        print(json.dumps({"run": run.id, "path": str(run.path), "test_accuracy": test_accuracy}))
    else:
        print(f"{run.id}: test accuracy {test_accuracy:.2%} (predictions stored in {run.path})")
    return 0


def cmd_label_issues(args) -> int:
    from core.analysis import label_issues
    from core.evaluate import split_predictions

    if args.top < 1:
        raise ConfigError(f"--top must be at least 1 (got {args.top})")
    run = load_run(args.run, args.checkpoints)
    predictions = split_predictions(run, args.split, args.data_dir)
    ranking = label_issues(predictions.probs, predictions.labels)
    issues = ranking.head(args.top)
    classes = run.config["classes"]
    rows = [
        {
            "index": int(predictions.indices[row.row]),
            "given": classes[row.given],
            "suggested": classes[row.suggested],
            "score": round(float(row.score), 6),
            "flagged": bool(row.flagged),
        }
        for row in issues.itertuples()
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(
        f"{run.id}, {args.split} split: the {len(rows)} most likely label errors (lower score = more likely); "
        f"cleanlab counts {int(ranking['flagged'].sum())} in all, marked *"
    )
    width = max(len(repr(name)) for name in classes)
    for rank, row in enumerate(rows, start=1):
        given, suggested = repr(row["given"]), repr(row["suggested"])
        mark = "*" if row["flagged"] else " "
        print(
            f"{rank:>4}.{mark} index {row['index']:>5}  given {given:<{width}} → {suggested:<{width}}  "
            f"score {row['score']:.4f}"
        )
    return 0


def cmd_compare(args) -> int:
    from core.analysis import compare_runs

    run_a, run_b = load_run(args.run_a, args.checkpoints), load_run(args.run_b, args.checkpoints)
    if run_a.config["dataset"] != run_b.config["dataset"]:
        raise RunError(f"{run_a.id} is on {run_a.config['dataset']}, {run_b.id} on {run_b.config['dataset']}")
    a, b = run_a.load_predictions(), run_b.load_predictions()
    if not np.array_equal(a.indices, b.indices):
        raise RunError("the two runs' predictions are of different test images")
    classes = run_a.config["classes"]
    diff = compare_runs(a.probs, b.probs, a.labels, classes)
    result = {
        "run_a": run_a.id,
        "run_b": run_b.id,
        "accuracy_a": diff.accuracy_a,
        "accuracy_b": diff.accuracy_b,
        "fixed": [int(a.indices[row]) for row in diff.fixed],
        "broken": [int(a.indices[row]) for row in diff.broken],
        "per_class": diff.per_class.to_dict(orient="records"),
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{run_a.id}: {diff.accuracy_a:.2%}   {run_b.id}: {diff.accuracy_b:.2%}")
    print(f"the second fixed {len(diff.fixed)} test images and broke {len(diff.broken)}")
    for row in diff.per_class.itertuples():
        print(f"  {row[1]:>14}  recall {row.recall_a:.2%} → {row.recall_b:.2%}  ({row.delta:+.2%})")
    return 0


def cmd_predict(args) -> int:
    from core.analysis import classify_image
    from core.images import ImageError, decode_image, prepare_like_dataset

    run = load_run(args.run, args.checkpoints)
    try:
        data = args.image.read_bytes()
        image = prepare_like_dataset(decode_image(data), run.config["dataset"])
    except (OSError, ImageError) as error:
        raise ConfigError(f"{args.image}: {error}") from None
    probs = classify_image(run.load_model(), image, run.config["mean"], run.config["std"])
    classes = run.config["classes"]
    ranked = [{"class": classes[i], "probability": float(probs[i])} for i in np.argsort(-probs)]
    if args.json:
        print(json.dumps(ranked, indent=2))
        return 0
    for row in ranked[:3]:
        print(f"{row['class']:>14}  {row['probability']:.2%}")
    return 0


def cmd_card(args) -> int:
    from core.modelcard import layer_table, onnx_bytes
    from core.models import create_model
    from core.storage import atomic_write_bytes

    if args.model in MODELS:
        model, title = create_model(args.model), args.model
    else:
        run = load_run(args.model, args.checkpoints)
        model, title = run.load_model(), f"{run.id} ({run.config['model']})"
    layers = layer_table(model)
    if args.onnx:
        atomic_write_bytes(args.onnx, onnx_bytes(model))
    if args.json:
        print(layers.to_json(orient="records", indent=2))
    else:
        print(title)
        print(layers.to_string(index=False))
        print(f"total: {layers['parameters'].sum():,} parameters")
    if args.onnx:
        print(f"ONNX written to {args.onnx}", file=sys.stderr)
    return 0


def cmd_embed(args) -> int:
    import pandas as pd

    from core.analysis import run_embedding
    from core.data import load_dataset

    run = load_run(args.run, args.checkpoints)
    data = load_dataset(run.config["dataset"], args.data_dir)
    points = run_embedding(run, args.method, data=data)  # also kept in the run folder for the dashboard
    predictions = run.load_predictions()
    frame = pd.DataFrame(
        {
            "index": data.test.indices.numpy(),
            "x": points[:, 0],
            "y": points[:, 1],
            "true": data.test.labels.numpy(),
            "predicted": predictions.predicted if len(predictions.labels) == len(points) else -1,
        }
    )
    frame.to_csv(args.output or sys.stdout, index=False)
    return 0


def _raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt


def _percent(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.2%}"


if __name__ == "__main__":
    sys.exit(main())
