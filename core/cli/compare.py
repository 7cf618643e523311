"""``python -m core compare RUN_A RUN_B``: what the second run fixed and broke against the first."""

from __future__ import annotations

from core.cli.common import add_checkpoints, add_json, print_json
from core.runs import load_run


def register(commands) -> None:
    compare = commands.add_parser("compare", help="what a second run fixed and broke against a first")
    compare.add_argument("run_a", help="the first run (id or folder)")
    compare.add_argument("run_b", help="the second run")
    add_json(compare)
    add_checkpoints(compare)
    compare.set_defaults(handler=run)


def run(args) -> int:
    from core.analysis import compare_run_predictions

    run_a, run_b = load_run(args.run_a, args.checkpoints), load_run(args.run_b, args.checkpoints)
    a, b = run_a.load_predictions(), run_b.load_predictions()
    diff = compare_run_predictions(run_a.config, a, run_b.config, b)
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
        print_json(result)
        return 0
    print(f"{run_a.id}: {diff.accuracy_a:.2%}   {run_b.id}: {diff.accuracy_b:.2%}")
    print(f"the second fixed {len(diff.fixed)} test images and broke {len(diff.broken)}")
    for row in diff.per_class.itertuples():
        print(f"  {row[1]:>14}  recall {row.recall_a:.2%} → {row.recall_b:.2%}  ({row.delta:+.2%})")
    return 0
