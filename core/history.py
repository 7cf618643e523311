"""A run's history as tables: what the curves page draws and ``python -m core curves`` prints.

frame = history_frame(run.history())          # one row per epoch
rows = curve_rows("my-run", frame)             # (run, epoch, metric, split, value) for a chart
"""

from __future__ import annotations

import re

import numpy as np
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
    steps = steps.loc[drawn_epochs(steps).index]  # elapsed summed over every epoch first, then thinned
    for metric in CURVE_METRICS:
        for split, prefix in SPLIT_PREFIXES:
            column = prefix + metric
            if column not in history:  # not measured by this run
                continue
            part = steps.assign(value=history.loc[steps.index, column]).dropna(subset=["value"])
            parts.append(part.assign(run=run_id, metric=metric, split=split))
    for column in other_metrics(history):
        part = steps.assign(value=history.loc[steps.index, column]).dropna(subset=["value"])
        parts.append(part.assign(run=run_id, metric=column, split="logged"))
    if not parts:
        return pd.DataFrame(columns=["epoch", "examples_seen", "elapsed", "value", "run", "metric", "split"])
    return pd.concat(parts, ignore_index=True)


def batch_loss_rows(run_id: str, history: list[dict], live: list | tuple = ()) -> list[dict]:
    """(examples seen, running loss) points of every epoch, then the epoch under way (``live``)."""
    pairs = [pair for record in history for pair in record.get("batch_losses", [])] + list(live)
    return [{"run": run_id, "examples_seen": examples, "loss": loss} for examples, loss in pairs]


# What a loop's own metric may be called to be drawn (a button each on the curves page), and how many are.
METRIC_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_./-]{0,63}")
MAX_LOGGED_METRICS = 24
# Epochs drawn per run at most: a history of 300,000 epochs took a minute to send and froze the browser.
MAX_EPOCHS_DRAWN = 2_000


def other_metrics(history: pd.DataFrame) -> list[str]:
    """Numeric columns beyond loss, accuracy and the bookkeeping: metrics a user's loop logged by name (the
    first ``MAX_LOGGED_METRICS`` whose names are plain words; a file could hold a hundred thousand)."""
    known = {prefix + metric for metric in CURVE_METRICS for _, prefix in SPLIT_PREFIXES} | set(BOOKKEEPING)
    names = [
        column
        for column in history.columns
        if column not in known
        and isinstance(column, str)
        and METRIC_NAME.fullmatch(column)
        and pd.api.types.is_numeric_dtype(history[column])
    ]
    return names[:MAX_LOGGED_METRICS]


def table_columns(history: pd.DataFrame) -> list[str]:
    """A history's columns worth a table, in order: the epoch, loss then accuracy split by split, the
    bookkeeping, then the metrics a loop logged (``other_metrics``); the batch losses are a curve of their own."""
    known = dict.fromkeys(["epoch", *(prefix + m for m in CURVE_METRICS for _, prefix in SPLIT_PREFIXES), *BOOKKEEPING])
    return [column for column in known if column in history and column != "batch_losses"] + other_metrics(history)


def drawn_epochs(history: pd.DataFrame, limit: int = MAX_EPOCHS_DRAWN) -> pd.DataFrame:
    """At most ``limit`` of a history's epoch rows, evenly spaced, the first and last kept."""
    if len(history) <= limit:
        return history
    rows = np.unique(np.linspace(0, len(history) - 1, limit).round().astype(int))
    return history.iloc[rows]


def smooth(values: list[float], weight: float) -> list[float]:
    """TensorBoard's smoothing: an exponential moving average with ``weight`` (0 = none, 0.99 = heavy),
    corrected for its start so that the first points are not pulled towards 0."""
    smoothed, average = [], 0.0
    for step, value in enumerate(values, start=1):
        average = weight * average + (1 - weight) * value
        smoothed.append(average / (1 - weight**step) if weight > 0 else value)
    return smoothed
