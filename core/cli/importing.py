"""``python -m core import``: a model trained elsewhere (your own class and your own .pt) as a run."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

from core.cli.common import DATASET_HELP, add_checkpoints, add_data_dir, add_json, print_json
from core.models import MODELS


def register(commands) -> None:
    imported = commands.add_parser(
        "import",
        help="a model trained elsewhere as a run: its weights, its architecture (your code or a registered one)",
        description="Weights are read without running code (safetensors, or torch.load(weights_only=True)); "
        "your class runs here only, and the run keeps an ONNX graph, so the dashboard never runs your code.",
    )
    imported.add_argument("--dataset", required=True, help=DATASET_HELP)
    imported.add_argument("--weights", type=Path, required=True, help="a state_dict (.pt, .pth) or .safetensors")
    imported.add_argument("--code", help="your nn.Module: path/to/file.py:ClassName")
    imported.add_argument("--code-args", help="keyword arguments for the class, as JSON")
    imported.add_argument(
        "--model",
        help=f"a registered architecture instead: {', '.join(MODELS)}; or auto, the one the weights fit",
    )
    imported.add_argument("--run-id", help="name of the run folder (default: date-dataset-model)")
    imported.add_argument(
        "--normalize",
        nargs=2,
        type=float,
        metavar=("MEAN", "STD"),
        help="how your inputs were standardised (default: the dataset's mean and std, as the tutorials do)",
    )
    imported.add_argument("--tensorboard", type=Path, help="a TensorBoard log folder: its scalars become the history")
    imported.add_argument(
        "--tag",
        action="append",
        default=[],
        metavar="FIELD=TAG",
        help="which TensorBoard tag is which "
        "history field, e.g. val_loss=Loss/val (repeatable; default: matched by name)",
    )
    add_json(imported)
    add_data_dir(imported)
    add_checkpoints(imported)
    imported.set_defaults(handler=run)


def run(args) -> int:
    from core.external import import_model, near_chance

    history = None
    if args.tensorboard:
        from core.tensorboard import history_from_tensorboard, parse_tags

        history = history_from_tensorboard(args.tensorboard, parse_tags(args.tag))
    # A kill (SIGTERM) ends the import as Ctrl-C does: the half-made run folder is removed, none is left running.
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        run_folder = import_model(
            args.dataset,
            args.weights,
            code=args.code,
            code_args=args.code_args,
            model_name=args.model,
            run_id=args.run_id,
            normalize=tuple(args.normalize) if args.normalize else None,
            checkpoints=args.checkpoints,
            data_dir=args.data_dir,
            history=history,
        )
    finally:
        signal.signal(signal.SIGTERM, previous)
    status, config = run_folder.status(), run_folder.config
    if args.run_id and run_folder.id != args.run_id:  # the store never overwrites a run
        print(f"warning: a run named {args.run_id} exists already: this one is {run_folder.id}", file=sys.stderr)
    doubt = near_chance(run_folder)
    if doubt:
        print(f"warning: {doubt} (--normalize MEAN STD gives yours)", file=sys.stderr)
    if args.json:
        print_json(
            {
                "run": run_folder.id,
                "path": str(run_folder.path),
                "test_accuracy": status.test_accuracy,
                "val_accuracy": status.best_val_accuracy,
                "source": config.source,
            }
        )
        return 0
    images = len(run_folder.load_predictions().labels)
    print(
        f"{run_folder.id}: test accuracy {status.test_accuracy:.2%} ({round(status.test_accuracy * images):,} of "
        f"{images:,}), validation {status.best_val_accuracy:.2%} (images held out of the training file here: it reads "
        f"high if your model trained on the whole file); outputs read as {config.source['output']}"
    )
    print(run_folder.path)
    return 0
