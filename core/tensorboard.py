"""A TensorBoard log's scalars as a run's history (``python -m core import ... --tensorboard LOGDIR``).

Read with TensorBoard's own event reader. Tags become history fields by name — a tag naming a loss
and the training split (``Loss/train``, ``train_loss``) is ``train_loss``; ``val``/``valid`` makes it
the validation split; ``acc`` makes it an accuracy — or as ``--tag val_loss=Loss/val`` says. Other
tags are kept under their own names, and an accuracy logged in percent becomes a fraction. The
epochs are the steps of the sparsest matched series (a value logged once an epoch); a denser series
(a loss logged every batch) is averaged over each epoch.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from core.config import ConfigError

FIELDS = ("train_loss", "val_loss", "train_accuracy", "val_accuracy")
# The history's own bookkeeping: a tag with one of these names (PyTorch Lightning logs "epoch" at
# every step) is not a figure of the run. "epoch" is left out (the epochs are counted here); the
# others keep their values under "logged_…".
BOOKKEEPING = ("epoch", "batch_losses", "examples_seen")


def parse_tags(pairs: list[str]) -> dict[str, str]:
    """``["val_loss=Loss/val"]`` → ``{"val_loss": "Loss/val"}``."""
    tags = {}
    for pair in pairs:
        field, _, tag = pair.partition("=")
        if not tag or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", field):
            raise ConfigError(f"--tag takes FIELD=TAG, e.g. val_loss=Loss/val (got {pair!r})")
        if field in BOOKKEEPING:
            raise ConfigError(f"--tag: {field} is the history's own (the epochs are counted here); name another field")
        tags[field] = tag
    return tags


def field_for(tag: str) -> str:
    """The history field a tag names, by its words; a tag that names none keeps its own name."""
    words = set(re.split(r"[^a-z]+", tag.lower()))
    split = "val" if words & {"val", "valid", "validation"} else "train" if words & {"train", "training"} else None
    metric = "accuracy" if words & {"acc", "accuracy"} else "loss" if "loss" in words else None
    if metric and (split or metric == "loss"):
        return f"{split or 'train'}_{metric}"
    name = re.sub(r"[^a-z0-9]+", "_", tag.lower()).strip("_") or "value"
    return f"logged_{name}" if name in BOOKKEEPING else name


def read_scalars(logdir: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Every scalar tag in the log folder: (steps, values), in step order."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    logdir = Path(logdir)
    if not logdir.is_dir() or not any(logdir.glob("events.out.tfevents.*")):
        raise ConfigError(f"--tensorboard: {logdir} holds no TensorBoard event file (events.out.tfevents.*)")
    accumulator = EventAccumulator(str(logdir), size_guidance={"scalars": 0})  # 0: keep every point
    accumulator.Reload()
    series = {}
    for tag in accumulator.Tags().get("scalars", []):
        events = sorted(accumulator.Scalars(tag), key=lambda event: event.step)
        series[tag] = (np.array([e.step for e in events]), np.array([e.value for e in events], dtype=np.float64))
    return series


def history_from_tensorboard(logdir: Path, tags: dict[str, str] | None = None) -> list[dict]:
    """Epoch records (``epoch``, then the fields found) from a TensorBoard log; see the module."""
    series = read_scalars(logdir)
    chosen = dict(tags or {})
    missing = [tag for tag in chosen.values() if tag not in series]
    if missing:
        raise ConfigError(f"--tag names {', '.join(missing)}, not in the log (its tags: {', '.join(series)})")
    for tag in series:
        if tag not in chosen.values() and field_for(tag) != "logged_epoch":  # the epochs are counted here
            chosen.setdefault(field_for(tag), tag)
    if not chosen:
        raise ConfigError(f"--tensorboard: {logdir} has no scalar series")
    epoch_steps = min((series[tag][0] for tag in chosen.values()), key=len)
    records = [{"epoch": number} for number in range(1, len(epoch_steps) + 1)]
    for field, tag in chosen.items():
        steps, values = series[tag]
        if field.endswith("accuracy") and values.size and values.max() > 1.0:
            values = values / 100.0  # logged in percent; the history keeps fractions
        previous = -np.inf
        for record, step in zip(records, epoch_steps, strict=True):
            inside = (steps > previous) & (steps <= step)
            if inside.any() and np.isfinite(values[inside]).all():
                record[field] = float(values[inside].mean())
            previous = step
    return records
