"""TrainConfig: the one object that drives the CLI, the train page and the saved run."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from core.data import DATASETS
from core.models import MODELS

OPTIMIZERS = ("sgd", "adam", "adamw")
KEEP_BEST_BY = ("val_loss", "val_accuracy")
SCHEDULES = ("none", "onecycle", "cosine")
DEVICES = ("auto", "cpu", "cuda", "mps")


class ConfigError(ValueError):
    """A hyperparameter that is out of range; the message says what is allowed."""


@dataclass
class TrainConfig:
    dataset: str = "mnist"
    model: str = "two-conv-dropout"
    epochs: int = 3
    batch_size: int = 64  # examples per optimiser step
    lr: float = 1e-3  # peak learning rate (the maximum of a OneCycle schedule)
    optimizer: str = "adam"
    momentum: float = 0.0  # SGD only
    nesterov: bool = False  # SGD only
    weight_decay: float = 0.0
    schedule: str = "none"
    augment: bool = False  # random shifts and rotations, a batch at a time
    max_shift: int = 2  # pixels, each way
    # Degrees, each way. With 0, augmentation shifts by whole pixels only: no resampling, so training
    # images stay as sharp as the test images (worth ~0.5 point on Fashion-MNIST, whose textures blur).
    max_rotation: float = 10.0
    hflip: bool = False  # random horizontal flips: right for clothes, wrong for digits
    label_smoothing: float = 0.0
    train_subset: int | None = None  # train on this many training images; None = all 55,000
    seed: int = 0
    device: str = "auto"
    threads: int | None = None  # torch CPU threads; None = every core this process may use
    log_every: int = 50  # batches between two records of the running batch loss
    # Which epoch's weights to keep. Label smoothing makes the plain validation loss a poor judge
    # (it punishes the under-confidence the smoothing asks for), so recipes using it keep by accuracy.
    keep_best_by: str = "val_loss"
    preset: str = ""  # the preset the values came from, if any (core.presets)

    def validate(self) -> None:
        """Raise ConfigError naming the first bad value and what is allowed."""
        if self.dataset not in DATASETS:
            raise ConfigError(f"unknown dataset {self.dataset!r}; choose one of: {', '.join(DATASETS)}")
        if self.model not in MODELS:
            raise ConfigError(f"unknown model {self.model!r}; choose one of: {', '.join(MODELS)}")
        _require_int("epochs", self.epochs, low=1, high=1000)
        _require_int("batch_size", self.batch_size, low=1, high=60_000)
        _require_float("lr", self.lr, low=0.0, high=100.0, low_inclusive=False)
        _require_float("momentum", self.momentum, low=0.0, high=1.0, high_inclusive=False)
        _require_float("weight_decay", self.weight_decay, low=0.0, high=1.0)
        _require_int("max_shift", self.max_shift, low=0, high=14)
        _require_float("max_rotation", self.max_rotation, low=0.0, high=180.0)
        _require_float("label_smoothing", self.label_smoothing, low=0.0, high=1.0, high_inclusive=False)
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"unknown optimizer {self.optimizer!r}; choose one of: {', '.join(OPTIMIZERS)}")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"unknown schedule {self.schedule!r}; choose one of: {', '.join(SCHEDULES)}")
        if self.keep_best_by not in KEEP_BEST_BY:
            raise ConfigError(f"unknown keep_best_by {self.keep_best_by!r}; choose one of: {', '.join(KEEP_BEST_BY)}")
        if self.device not in DEVICES:
            raise ConfigError(f"unknown device {self.device!r}; choose one of: {', '.join(DEVICES)}")
        if self.train_subset is not None:
            _require_int("train_subset", self.train_subset, low=1, high=60_000)
        if self.threads is not None:
            _require_int("threads", self.threads, low=1, high=1024)
        _require_int("seed", self.seed, low=0, high=2**63 - 1)
        _require_int("log_every", self.log_every, low=1, high=1_000_000)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        """Build from a saved config, ignoring keys this version doesn't know."""
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


def _require_int(name: str, value, *, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{name} must be a whole number from {low:,} to {high:,} (got {value!r})")


def _require_float(
    name: str,
    value,
    *,
    low: float,
    high: float,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = (value >= low if low_inclusive else value > low) and (value <= high if high_inclusive else value < high)
    if not ok:
        lower = "from" if low_inclusive else "above"
        upper = "to" if high_inclusive else "below"
        raise ConfigError(f"{name} must be a finite number {lower} {low:g} {upper} {high:g} (got {value!r})")
