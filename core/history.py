"""A run's history as tables: what the curves page draws and ``python -m core curves`` prints.

frame = history_frame(run.history())          # one row per epoch
rows = curve_rows("my-run", frame)             # (run, epoch, metric, split, value) for a chart
"""

from __future__ import annotations

import pandas as pd

CURVE_METRICS = ("loss", "accuracy")
SPLIT_PREFIXES = (("train", "train_"), ("validation", "val_"))


def history_frame(history: list[dict]) -> pd.DataFrame:
    """One row per epoch, without the batch losses (they are ``batch_loss_rows``)."""
    frame = pd.DataFrame(history)
    return frame.drop(columns=["batch_losses"], errors="ignore")


def curve_rows(run_id: str, history: pd.DataFrame) -> pd.DataFrame:
    """Epoch rows as (run, epoch, metric, split, value) rows: loss and accuracy, train and validation."""
    parts = []
    for metric in CURVE_METRICS:
        for split, prefix in SPLIT_PREFIXES:
            column = prefix + metric
            if column not in history:  # not measured by this run
                continue
            part = history[["epoch", column]].rename(columns={column: "value"}).dropna()
            parts.append(part.assign(run=run_id, metric=metric, split=split))
    if not parts:
        return pd.DataFrame(columns=["epoch", "value", "run", "metric", "split"])
    return pd.concat(parts, ignore_index=True)


def batch_loss_rows(run_id: str, history: list[dict], live: list | tuple = ()) -> list[dict]:
    """(examples seen, running loss) points of every epoch, then the epoch under way (``live``)."""
    pairs = [pair for record in history for pair in record.get("batch_losses", [])] + list(live)
    return [{"run": run_id, "examples_seen": examples, "loss": loss} for examples, loss in pairs]
