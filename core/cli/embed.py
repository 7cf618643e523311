"""``python -m core embed RUN``: the embedding map's points (the test images' features in 2-D) as CSV."""

from __future__ import annotations

import sys
from pathlib import Path

from core.cli.common import add_data_dir, add_run
from core.runs import load_run


def register(commands) -> None:
    embed = commands.add_parser("embed", help="2-D map of the test images' penultimate-layer features (CSV)")
    add_run(embed)
    embed.add_argument("--method", choices=["pca", "tsne"], default="pca")
    embed.add_argument("--output", type=Path, help="CSV file (default: standard output)")
    add_data_dir(embed)
    embed.set_defaults(handler=run)


def run(args) -> int:
    import pandas as pd

    from core.analysis import run_embedding
    from core.data import load_dataset

    run_folder = load_run(args.run, args.checkpoints)
    data = load_dataset(run_folder.config.dataset, args.data_dir)
    points = run_embedding(run_folder, args.method, data=data)  # also kept in the run folder for the dashboard
    predictions = run_folder.load_predictions()
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
