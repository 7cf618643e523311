"""A run's history as tables: what the curves page draws and ``python -m core curves`` prints.

frame = history_frame(run.history())          # one row per epoch
rows = curve_rows("my-run", frame)             # (run, epoch, metric, split, value) for a chart
"""

from __future__ import annotations

import pandas as pd

CURVE_METRICS = ("loss", "accuracy")
# test_: what the tutorials' test() gives, logged from a user's own loop (core.log_run).
SPLIT_PREFIXES = (("train", "train_"), ("validation", "val_"), ("test", "test_"))
# Columns of every record that are not curves of their own.
BOOKKEEPING = ("epoch", "lr", "seconds", "examples_seen", "batch_losses")
# What an epoch curve can be drawn against: its label → the column ``curve_rows`` gives it.
X_AXES = {"epoch": "epoch", "examples seen": "examples_seen", "training time": "elapsed"}


def history_frame(history: list[dict]) -> pd.DataFrame:
    """One row per epoch, without the batch losses (they are ``batch_loss_rows``)."""
    frame = pd.DataFrame(history)
    return frame.drop(columns=["batch_losses"], errors="ignore")


def progress(history: pd.DataFrame) -> pd.DataFrame:
    """Per epoch: ``epoch``, ``examples_seen`` and ``elapsed`` (seconds of training so far); NaN where the
    run didn't record it (an imported history)."""
    if "epoch" not in history:  # no epoch finished yet
        return pd.DataFrame(columns=["epoch", "examples_seen", "elapsed"])
    frame = history[["epoch"]].copy()
    counted = "examples_seen" in history and (history["examples_seen"] > 0).any()
    # All zeros: a loop that logged no batches (early log_run histories wrote 0 for "not counted").
    frame["examples_seen"] = history["examples_seen"] if counted else float("nan")
    frame["elapsed"] = history["seconds"].cumsum() if "seconds" in history else float("nan")
    return frame


def curve_rows(run_id: str, history: pd.DataFrame) -> pd.DataFrame:
    """Epoch rows as (run, epoch, examples_seen, elapsed, metric, split, value) rows: loss and accuracy,
    train and validation, then every other number a run logged (``core.log_run``'s own metric names)."""
    steps, parts = progress(history), []
    for metric in CURVE_METRICS:
        for split, prefix in SPLIT_PREFIXES:
            column = prefix + metric
            if column not in history:  # not measured by this run
                continue
            part = steps.assign(value=history[column]).dropna(subset=["value"])
            parts.append(part.assign(run=run_id, metric=metric, split=split))
    for column in other_metrics(history):
        part = steps.assign(value=history[column]).dropna(subset=["value"])
        parts.append(part.assign(run=run_id, metric=column, split="logged"))
    if not parts:
        return pd.DataFrame(columns=["epoch", "examples_seen", "elapsed", "value", "run", "metric", "split"])
    return pd.concat(parts, ignore_index=True)


def batch_loss_rows(run_id: str, history: list[dict], live: list | tuple = ()) -> list[dict]:
    """(examples seen, running loss) points of every epoch, then the epoch under way (``live``)."""
    pairs = [pair for record in history for pair in record.get("batch_losses", [])] + list(live)
    return [{"run": run_id, "examples_seen": examples, "loss": loss} for examples, loss in pairs]


def other_metrics(history: pd.DataFrame) -> list[str]:
    """Numeric columns beyond loss, accuracy and the bookkeeping: metrics a user's loop logged by name."""
    known = {prefix + metric for metric in CURVE_METRICS for _, prefix in SPLIT_PREFIXES} | set(BOOKKEEPING)
    return [c for c in history.columns if c not in known and pd.api.types.is_numeric_dtype(history[c])]


def smooth(values: list[float], weight: float) -> list[float]:
    """TensorBoard's smoothing: an exponential moving average with ``weight`` (0 = none, 0.99 = heavy),
    corrected for its start so that the first points are not pulled towards 0."""
    smoothed, average = [], 0.0
    for step, value in enumerate(values, start=1):
        average = weight * average + (1 - weight) * value
        smoothed.append(average / (1 - weight**step) if weight > 0 else value)
    return smoothed
