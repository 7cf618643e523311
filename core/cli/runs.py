"""``python -m core runs``: the stored runs, unreadable ones with their reason."""

from __future__ import annotations

import dataclasses

from core.cli.common import add_checkpoints, add_json, percent, print_json, printable, text_table
from core.runs import default_checkpoints_dir, list_runs


def register(commands) -> None:
    runs = commands.add_parser("runs", help="list the stored runs")
    add_json(runs)
    add_checkpoints(runs)
    runs.set_defaults(handler=run)


def run(args) -> int:
    summaries = list_runs(args.checkpoints)
    if args.json:
        print_json([dataclasses.asdict(s) for s in summaries])
        return 0
    if not summaries:
        print(
            f"no runs in {args.checkpoints or default_checkpoints_dir()}; train one with: "
            "python -m core train --dataset mnist --preset quick"
        )
        return 0
    rows = [
        (
            s.id,
            s.dataset or "?",
            s.model or "?",
            s.state,
            f"{s.epochs_done}/{s.epochs}" if s.epochs else str(s.epochs_done or "-"),
            percent(s.best_val_accuracy),
            percent(s.test_accuracy),
        )
        for s in summaries
    ]
    lines = text_table(rows, ("id", "dataset", "model", "state", "epochs", "best val", "test"), left=4).splitlines()
    print(lines[0])
    for line, summary in zip(lines[1:], summaries, strict=True):
        print(line)
        if summary.error and summary.state != "completed":
            print(f"    {printable(summary.error)}")
    return 0
