"""``python -m core confusion RUN``: the confusion matrix, per-class scores and most-confused pairs."""

from __future__ import annotations

from core.cli.common import add_json, add_run, percent, print_json, text_table
from core.runs import load_run


def register(commands) -> None:
    confusion = commands.add_parser("confusion", help="a run's confusion matrix, per-class scores, confused pairs")
    add_run(confusion)
    confusion.add_argument("--rates", action="store_true", help="each row as shares of its true class")
    confusion.add_argument("--top", type=int, default=10, help="how many confused pairs to list (default 10)")
    add_json(confusion)
    confusion.set_defaults(handler=run)


def run(args) -> int:
    from core.evaluate import Evaluation, normalize_rows

    run_folder = load_run(args.run, args.checkpoints)
    classes = run_folder.config.classes
    evaluation = Evaluation.from_predictions(run_folder.load_predictions(), classes)
    pairs = evaluation.pairs.head(max(args.top, 0))
    if args.json:
        print_json(
            {
                "run": run_folder.id,
                "classes": list(classes),
                "accuracy": evaluation.accuracy,
                "matrix": evaluation.confusion.tolist(),
                "per_class": evaluation.report.to_dict(orient="records"),
                "pairs": pairs.to_dict(orient="records"),
            }
        )
        return 0
    print(f"{run_folder.id}: test accuracy {evaluation.accuracy:.2%}; rows are the true class, columns the predicted")
    matrix = normalize_rows(evaluation.confusion) if args.rates else evaluation.confusion
    cells = [[f"{value:.1%}" if args.rates else f"{int(value):,}" for value in row] for row in matrix]
    print(text_table([(name, *row) for name, row in zip(classes, cells, strict=True)], ("true \\ predicted", *classes)))
    print()
    report = [
        (r["class"], percent(r["precision"]), percent(r["recall"]), percent(r["f1"]), f"{int(r['support']):,}")
        for r in evaluation.report.to_dict(orient="records")
    ]
    print(text_table(report, ("class", "precision", "recall", "F1", "images")))
    print()
    print("most confused:")
    for row in pairs.itertuples():
        print(f"  {row.true_name} → {row.predicted_name}: {row.count:,} ({row.rate:.1%} of {row.true_name})")
    return 0
