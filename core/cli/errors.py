"""``python -m core errors RUN``: the misclassified test images, filtered and sorted as on the Errors page."""

from __future__ import annotations

from core.cli.common import add_json, add_run, class_index, print_json, text_table
from core.config import ConfigError
from core.evaluate import SORTS
from core.runs import load_run


def register(commands) -> None:
    errors = commands.add_parser("errors", help="a run's misclassified test images, its worst mistakes first")
    add_run(errors)
    errors.add_argument("--true", help="only images of this class (name or number)")
    errors.add_argument("--predicted", help="only images predicted as this class (name or number)")
    errors.add_argument("--sort", choices=SORTS, default=SORTS[0], help="confidence in its answer, or p(true class)")
    errors.add_argument("--include-correct", action="store_true", help="correct predictions too")
    errors.add_argument("--top", type=int, default=20, help="how many to print (default 20)")
    add_json(errors)
    errors.set_defaults(handler=run)


def run(args) -> int:
    from core.evaluate import prediction_details, select_predictions

    if args.top < 1:
        raise ConfigError(f"--top must be at least 1 (got {args.top})")
    run_folder = load_run(args.run, args.checkpoints)
    classes = run_folder.config.classes
    predictions = run_folder.load_predictions()
    rows = select_predictions(
        predictions.probs,
        predictions.labels,
        class_index(args.true, classes),
        class_index(args.predicted, classes),
        include_correct=args.include_correct,
        sort=args.sort,
    )
    details = prediction_details(rows[: args.top], predictions, classes)
    if args.json:
        print_json({"run": run_folder.id, "matching": len(rows), "images": details.to_dict(orient="records")})
        return 0
    what = "predictions" if args.include_correct else "errors"
    print(
        f"{run_folder.id}: {len(rows):,} {what} of {len(predictions.labels):,} test images; the first {len(details)}:"
    )
    table = [
        (int(r["test index"]), r["true"], r["predicted"], f"{r['confidence']:.1%}", f"{r['p(true)']:.1%}")
        for r in details.to_dict(orient="records")
    ]
    print(text_table(table, ("test index", "true", "predicted", "confidence", "p(true)"), left=3))
    return 0
