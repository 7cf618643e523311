"""``python -m core curves RUN``: loss and accuracy per epoch, the kept epoch marked (the Training curves page)."""

from __future__ import annotations

from core.cli.common import add_json, add_run, percent, print_json, text_table
from core.runs import load_run

# Headings of the columns the curves know (a loop's own metrics keep their names); examples seen is left out.
HEADINGS = {
    "train_loss": "train loss",
    "val_loss": "val loss",
    "test_loss": "test loss",
    "train_accuracy": "train acc",
    "val_accuracy": "val acc",
    "test_accuracy": "test acc",
}


def register(commands) -> None:
    curves = commands.add_parser("curves", help="a run's loss and accuracy per epoch, the kept epoch marked")
    add_run(curves)
    add_json(curves, "the epoch records (batch losses included) and the kept epoch")
    curves.set_defaults(handler=run)


def run(args) -> int:
    from core.history import history_frame, table_columns

    run_folder = load_run(args.run, args.checkpoints)
    history = run_folder.history()
    kept = run_folder.kept_epoch()
    if args.json:
        print_json({"run": run_folder.id, "kept_epoch": kept, "history": history})
        return 0
    if not history:
        why = (
            "was made elsewhere without a training history"
            if run_folder.config.imported
            else "has no finished epoch yet"
        )
        print(f"{run_folder.id} {why}")
        return 0
    frame = history_frame(history)
    columns = [column for column in table_columns(frame) if column not in ("epoch", "examples_seen")]
    rows = [
        (f"{int(row['epoch'])}{' *' if row['epoch'] == kept else ''}", *(_cell(row, c) for c in columns))
        for row in frame.to_dict("records")
    ]
    print(text_table(rows, ("epoch", *(HEADINGS.get(column, column) for column in columns))))
    print(f"* the kept epoch ({kept_because(run_folder.config)})")
    return 0


def _cell(row: dict, name: str) -> str:
    value = row.get(name)
    if name.endswith("accuracy"):
        return percent(value)
    return _number(value, {"lr": "g", "seconds": ".1f"}.get(name, ".4f"))


def _number(value, spec: str) -> str:
    return "-" if value is None or value != value else format(value, spec)


def kept_because(config) -> str:
    """Why the kept epoch is the one kept: trained here, the best by a rule; made elsewhere, the model given."""
    if config.imported:  # log_run's finish(model) or an import: the weights of the last epoch logged
        return "the model given, after the last epoch logged"
    return f"best by {config.keep_best_by}"
