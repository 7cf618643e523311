"""``python -m core leaks DATASET [--run RUN]``: test images also in the training file, exactly or nearly."""

from __future__ import annotations

from core.cli.common import DATASET_HELP, add_checkpoints, add_data_dir, add_json, print_json, text_table
from core.config import ConfigError
from core.leaks import MIN_CORRELATION, NEAR_THRESHOLD


def register(commands) -> None:
    leaks = commands.add_parser(
        "leaks",
        help="leaks between splits: exact duplicates by hash, near ones by a run's features",
        description="Exact duplicates between the training file and the test split; with --run, also test "
        "images whose nearest training image is within --threshold cosine distance in that run's features.",
    )
    leaks.add_argument("dataset", help=DATASET_HELP)
    leaks.add_argument("--run", help="a run of the dataset whose features find near duplicates")
    leaks.add_argument(
        "--threshold", type=float, default=NEAR_THRESHOLD, help=f"cosine distance (default {NEAR_THRESHOLD})"
    )
    leaks.add_argument(
        "--min-correlation",
        type=float,
        default=MIN_CORRELATION,
        help=f"least pixel correlation that confirms a near pair (default {MIN_CORRELATION})",
    )
    leaks.add_argument("--show", type=int, default=10, help="pairs listed of each kind (default 10)")
    add_json(leaks)
    add_checkpoints(leaks)
    add_data_dir(leaks)
    leaks.set_defaults(handler=run)


def run(args) -> int:
    from core.data import load_dataset
    from core.leaks import exact_duplicates, near_duplicates, nearest_training_images, training_labels
    from core.runs import load_run

    if not 0 <= args.threshold <= 2:
        raise ConfigError("--threshold must be a cosine distance, between 0 and 2")
    if not -1 <= args.min_correlation <= 1:
        raise ConfigError("--min-correlation must be between -1 and 1")
    data = load_dataset(args.dataset, args.data_dir)
    found = {"exact": exact_duplicates(data)}
    if args.run:
        run_folder = load_run(args.run, args.checkpoints)
        if run_folder.config.dataset != args.dataset:
            raise ConfigError(f"{run_folder.id} is a run of {run_folder.config.dataset}, not {args.dataset}")
        nearest, distances = nearest_training_images(run_folder, data)
        found["near"] = near_duplicates(nearest, distances, data, args.threshold, args.min_correlation)
    if args.json:
        print_json({kind: [vars(pair) for pair in pairs] for kind, pairs in found.items()})
        return 0
    classes, train_labels = data.info.classes, training_labels(data)  # once: the labels of every pair shown
    for kind, pairs in found.items():
        print(_headline(kind, pairs, len(data.test), args.min_correlation, args.run))
        rows = [
            (
                p.test_index,
                classes[int(data.test.labels[p.test_index])],
                p.train_index,
                classes[int(train_labels[p.train_index])],
                f"{p.distance:.4f}",
                f"{p.correlation:.4f}",
            )
            for p in pairs[: args.show]
        ]
        if rows:
            header = ("test", "its label", "train", "its label", "feature distance", "pixel correlation")
            print(text_table(rows, header, left=0))
    return 0


def _headline(kind: str, pairs, test_count: int, min_correlation: float, run_id: str | None) -> str:
    images = len({p.test_index for p in pairs})
    relabelled = sum(not p.same_label for p in pairs)
    what = (
        "exact duplicates (same pixels)"
        if kind == "exact"
        else f"near duplicates ({run_id}'s nearest training image, pixels correlating ≥ {min_correlation:g})"
    )
    return f"{what}: {len(pairs):,} pairs, {images:,} of {test_count:,} test images" + (
        f"; {relabelled:,} pairs disagree on the label" if relabelled else ""
    )
