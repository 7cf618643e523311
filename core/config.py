"""TrainConfig: the one object that drives the CLI, the train page and the saved run.

Each field carries its help text; ``python -m core train``'s flags are generated from the fields
(``core.cli.train``), so a new hyperparameter is one field here. ``RunConfig`` is what a run folder's
``config.json`` holds: the TrainConfig plus what a reader needs without the code (class names,
mean/std), read and validated at the edge by ``RunConfig.from_dict``.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field

from core.data import VAL_SEED, VAL_SIZE, get_dataset_info, is_known_dataset, unknown_dataset_message

OPTIMIZERS = ("sgd", "adam", "adamw", "adadelta")
KEEP_BEST_BY = ("val_loss", "val_accuracy")
SCHEDULES = ("none", "onecycle", "cosine", "step")
DEVICES = ("auto", "cpu", "cuda", "mps")


# A name shown in the dashboard's text as it is (its pages render markdown): letters, digits, spaces and
# a little punctuation, and none of what those still make markdown act on — a list ("- x", "+ x",
# "1. x"), a rule ("---"), emphasis by underscores ("_x_", "'_x_'": an underscore that opens emphasis
# follows anything but a letter, in any script, or a digit), a bare link ("www.x.com", "x_www.x.com":
# anywhere), edge spaces.
PLAIN_NAME_RULE = (
    "letters, digits, spaces and . , ' ( ) / + & - _; not starting with - + or a space, nor ending in one, "
    "no www. and no _emphasis_"
)
PLAIN_NAME = re.compile(r"(?![-+ ]|\d+[.)] |.*(?:www\.| $)|(?:.*\W)?_.*_)[\w .,'()/+&-]{1,100}", re.IGNORECASE)


class ConfigError(ValueError):
    """A hyperparameter that is out of range; the message says what is allowed."""


def first_line(error: BaseException, limit: int = 200) -> str:
    """The first non-empty line of an error's message (its class name when it has none), at most ``limit``
    characters: what a one-line message quotes of a library's many-line error."""
    text = next((line.strip() for line in str(error).splitlines() if line.strip()), type(error).__name__)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _field(default, help: str, choices: tuple[str, ...] | None = None):  # noqa: A002 - argparse's word
    """A config field with its help text (and its allowed values): what the CLI flag shows."""
    return field(default=default, metadata={"help": help, "choices": choices})


@dataclass
class TrainConfig:
    dataset: str = _field("mnist", "the dataset to train on")
    model: str = _field("two-conv-dropout", "the architecture (python -m core models)")
    epochs: int = _field(3, "passes over the training split")
    batch_size: int = _field(64, "examples per optimiser step")
    lr: float = _field(1e-3, "(peak) learning rate: the maximum of a OneCycle schedule")
    optimizer: str = _field("adam", "the optimiser", OPTIMIZERS)
    momentum: float = _field(0.0, "SGD momentum")
    nesterov: bool = _field(False, "Nesterov momentum (SGD only)")
    weight_decay: float = _field(0.0, "L2 penalty per step")
    schedule: str = _field("none", "learning-rate schedule (step: times --step-gamma after each epoch)", SCHEDULES)
    step_gamma: float = _field(0.7, "with --schedule step: the learning rate's factor after each epoch")
    augment: bool = _field(False, "random shifts and rotations, a batch at a time")
    max_shift: int = _field(2, "pixels of random shift each way, with --augment")
    # With 0, augmentation shifts by whole pixels only: no resampling, so training images stay as
    # sharp as the test images (worth about half a point on Fashion-MNIST, whose textures blur).
    max_rotation: float = _field(10.0, "degrees of random rotation each way, with --augment (0: whole-pixel shifts)")
    hflip: bool = _field(False, "random mirror images: right for clothes, wrong for digits")
    label_smoothing: float = _field(0.0, "share of each target spread over the other classes")
    train_subset: int | None = _field(None, "train on this many training images (default: all of them)")
    seed: int = _field(0, "seed of the weights, the shuffles and the augmentation")
    device: str = _field("auto", "where to train (auto: CUDA, then MPS, then the CPU)", DEVICES)
    threads: int | None = _field(None, "torch CPU threads (default: every core this process may use)")
    log_every: int = _field(50, "batches between two records of the running batch loss")
    # Label smoothing makes the plain validation loss a poor judge (it punishes the under-confidence
    # the smoothing asks for), so recipes using it keep the epoch with the best accuracy.
    keep_best_by: str = _field("val_loss", "which epoch's weights to keep", KEEP_BEST_BY)
    preset: str = _field("", "the preset the values came from, if any (python -m core train --help lists them)")

    def validate(self) -> None:
        """Raise ConfigError naming the first bad value and what is allowed."""
        if not is_known_dataset(self.dataset):
            raise ConfigError(unknown_dataset_message(self.dataset))
        from core.models import MODELS  # here, not at the top: reading a run's config needs no torch

        if self.model not in MODELS:
            raise ConfigError(f"unknown model {self.model!r}; choose one of: {', '.join(MODELS)}")
        self.check_values()

    def check_values(self) -> None:
        """Types and ranges of every field, without asking whether the dataset and model are known here."""
        for name in ("dataset", "model", "preset"):
            if not isinstance(getattr(self, name), str):
                raise ConfigError(f"{name} must be a name (got {getattr(self, name)!r})")
        if self.preset and not PLAIN_NAME.fullmatch(self.preset):  # shown on the pages (the queue, the card)
            raise ConfigError(f"preset {self.preset!r} is not a plain name ({PLAIN_NAME_RULE})")
        _require_int("epochs", self.epochs, low=1, high=1000)
        _require_int("batch_size", self.batch_size, low=1, high=60_000)
        _require_float("lr", self.lr, low=0.0, high=100.0, low_inclusive=False)
        _require_float("momentum", self.momentum, low=0.0, high=1.0, high_inclusive=False)
        _require_float("weight_decay", self.weight_decay, low=0.0, high=1.0)
        _require_int("max_shift", self.max_shift, low=0, high=14)
        _require_float("max_rotation", self.max_rotation, low=0.0, high=180.0)
        _require_float("label_smoothing", self.label_smoothing, low=0.0, high=1.0, high_inclusive=False)
        _require_float("step_gamma", self.step_gamma, low=0.0, high=1.0, low_inclusive=False)
        for flag in ("nesterov", "augment", "hflip"):
            if not isinstance(getattr(self, flag), bool):
                raise ConfigError(f"{flag} must be true or false (got {getattr(self, flag)!r})")
        for item in dataclasses.fields(TrainConfig):
            choices = item.metadata.get("choices")
            if choices and getattr(self, item.name) not in choices:
                raise ConfigError(
                    f"unknown {item.name} {getattr(self, item.name)!r}; choose one of: {', '.join(choices)}"
                )
        if self.train_subset is not None:
            _require_int("train_subset", self.train_subset, low=1, high=60_000)
            if self.batch_size > self.train_subset:
                raise ConfigError(
                    f"batch_size ({self.batch_size:,}) is larger than train_subset ({self.train_subset:,}): "
                    "one batch would hold every training image"
                )
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

    def train_values(self) -> dict:
        """The TrainConfig fields alone (a RunConfig's extra fields dropped)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(TrainConfig)}


@dataclass
class RunConfig(TrainConfig):
    """A run's config.json: its TrainConfig, and what a reader needs without the code."""

    classes: tuple[str, ...] = ()
    mean: float = 0.0  # of the training pixels in [0, 1], as the model's inputs were standardised
    std: float = 1.0
    val_size: int = VAL_SIZE
    val_seed: int = VAL_SEED
    num_params: int | None = None
    created: str = ""  # ISO time the run folder was made
    # Where a model this project did not train came from (core.external): {"kind": "import" or "log_run",
    # file names, the weights' SHA-256, the class, "output": "logits" or "log_probs", ...}; None when trained here.
    source: dict | None = None
    # A run that is a sweep's trial (core.sweeps): {"name", "trial": its number, "params": what it sampled}.
    sweep: dict | None = None

    @classmethod
    def for_training(cls, config: TrainConfig) -> RunConfig:
        """The config a new run of ``config`` records (its dataset's classes and statistics)."""
        from core.models import parameter_count

        info = get_dataset_info(config.dataset)
        return cls(
            **config.train_values(),
            classes=info.classes,
            mean=info.mean,
            std=info.std,
            num_params=parameter_count(config.model, info.num_classes),
        )

    @classmethod
    def from_dict(cls, values: dict) -> RunConfig:
        """A config.json's values, every field checked; ConfigError names the first that is off."""
        if not isinstance(values, dict):
            raise ConfigError("it is not a JSON object")
        for key in ("dataset", "model", "classes", "mean", "std"):
            if key not in values:
                raise ConfigError(f"it has no {key!r}")
        config = super().from_dict(values)
        if not isinstance(config.classes, list | tuple) or not all(isinstance(c, str) for c in config.classes):
            raise ConfigError(f"classes must be a list of names (got {config.classes!r})")
        if not 2 <= len(config.classes) <= 1000:
            raise ConfigError(f"classes must name 2 to 1,000 classes (got {len(config.classes)})")
        config.classes = tuple(config.classes)
        if len(set(config.classes)) != len(config.classes):
            raise ConfigError("classes must name each class once (two share a name)")
        _require_float("mean", config.mean, low=0.0, high=1.0)
        _require_float("std", config.std, low=0.0, high=1.0, low_inclusive=False)
        if not isinstance(config.created, str):
            raise ConfigError(f"created must be a date (got {config.created!r})")
        if config.num_params is not None:
            _require_int("num_params", config.num_params, low=0, high=10**12)
        if config.source is not None and not is_plain_record(config.source):
            raise ConfigError("source must be an object of names, numbers and texts")
        if config.sweep is not None and not is_plain_record(config.sweep):
            raise ConfigError("sweep must be an object of names, numbers and texts")
        config.check_values()
        # Names are shown on pages: plain words only, so that none can act as markdown (a link, an image).
        odd = [name for name in (config.model, *config.classes) if not PLAIN_NAME.fullmatch(str(name))]
        if odd:
            raise ConfigError(f"{odd[0]!r} is not a plain name ({PLAIN_NAME_RULE})")
        return config

    @property
    def imported(self) -> bool:
        """Whether the model was trained elsewhere (imported, or logged from the user's own loop)."""
        return self.source is not None

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "classes": list(self.classes)}


def require_batch_fits(config: TrainConfig, training_images: int) -> None:
    """ConfigError when one batch would be bigger than the images trained on (the split, or the subset)."""
    count = min(config.train_subset or training_images, training_images)
    if config.batch_size > count:
        raise ConfigError(
            f"batch_size ({config.batch_size:,}) is larger than the {count:,} training images: "
            "one batch would hold them all; choose a smaller one"
        )


def is_plain_record(value, depth: int = 0) -> bool:
    """A JSON object whose values are texts, numbers, booleans, null, or (one level down) such objects.

    ``depth=1`` asks for a flat one: such a record nested in another is what a config may hold."""
    if not isinstance(value, dict) or len(value) > 200:
        return False
    for key, item in value.items():
        if not isinstance(key, str):
            return False
        if isinstance(item, dict):
            if depth > 0 or not is_plain_record(item, depth + 1):
                return False
        elif not (item is None or isinstance(item, str | bool | int) or _is_finite_float(item)):
            return False
    return True


def _is_finite_float(value) -> bool:
    return isinstance(value, float) and math.isfinite(value)


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
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = (value >= low if low_inclusive else value > low) and (value <= high if high_inclusive else value < high)
    if not ok:
        if low_inclusive and high_inclusive:
            allowed = f"from {low:g} to {high:g}"
        else:
            lower = "at least" if low_inclusive else "greater than"
            upper = "at most" if high_inclusive else "less than"
            allowed = f"{lower} {low:g} and {upper} {high:g}"
        raise ConfigError(f"{name} must be a number {allowed} (got {value!r})")
