"""``python -m core evaluate RUN``: recompute and store a run's test predictions."""

from __future__ import annotations

from core.cli.common import add_data_dir, add_json, add_run
from core.config import DEVICES
from core.runs import load_run


def register(commands) -> None:
    evaluate = commands.add_parser("evaluate", help="recompute and store a run's test predictions")
    add_run(evaluate)
    add_json(evaluate)
    evaluate.add_argument("--device", choices=DEVICES, default="auto")
    add_data_dir(evaluate)
    evaluate.set_defaults(handler=run)


def run(args) -> int:
    import dataclasses
    import json

    from core.devices import resolve_device
    from core.evaluate import evaluate_run

    run_folder = load_run(args.run, args.checkpoints)
    result = evaluate_run(run_folder, args.data_dir, resolve_device(args.device))
    if args.json:
        print(json.dumps({"run": run_folder.id, "path": str(run_folder.path), **dataclasses.asdict(result)}))
    elif not result.changed:
        same = "the same predictions as stored; files untouched"
        print(f"{run_folder.id}: test accuracy {result.test_accuracy:.2%}, {same}")
    elif result.previous_accuracy is None:
        print(f"{run_folder.id}: test accuracy {result.test_accuracy:.2%} (predictions stored in {run_folder.path})")
    else:
        print(
            f"{run_folder.id}: test accuracy {result.previous_accuracy:.2%} → {result.test_accuracy:.2%}; "
            f"{result.predictions_changed:,} images changed class; predictions stored in {run_folder.path}"
        )
    return 0
