"""Presets: a named model and recipe, the same for the CLI and the train page.

- ``quick``: seconds-long runs (accuracy over seeds: results/seeds.md).
- ``strong``: our best single model.
- one preset per tutorial architecture, named after the model: its tutorial's recipe.

    config = preset_config("quick", "fashion-mnist", seed=3)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from core.config import ConfigError, TrainConfig
from core.data import is_known_dataset, training_split_size, unknown_dataset_message
from core.models import MODELS


@dataclass(frozen=True)
class Preset:
    name: str
    model: str
    description: str
    # Values that differ from the model's recipe, per dataset.
    per_dataset: dict[str, dict] = field(default_factory=dict)
    # The fewest optimiser steps a run takes unless its epochs are given: a dataset smaller than the
    # one the recipe was made on gets more epochs of its fewer batches, up to MAX_SCALED_EPOCHS.
    # (A sweep pins the epochs when it is created, so its trials all train as many.)
    min_steps: int | None = None

    def values(self, dataset: str) -> dict:
        """TrainConfig values: the recipe of the model the dataset gets, then this preset's changes for it."""
        changes = self.per_dataset.get(dataset, {})
        model = changes.get("model", self.model)
        recipe = MODELS[model].recipe.config_values()
        return {"dataset": dataset, "model": model, **recipe, **changes, "preset": self.name}


OUR_PRESETS = (
    Preset(
        "quick",
        "fast-cnn",
        "A run of seconds: fast-cnn for 1 epoch on MNIST, 4 on Fashion-MNIST",
        # Clothes need more passes than digits for 91%; label smoothing doesn't help this short. Four epochs of
        # fast-cnn make 91.21% ± 0.22% over seeds 0–4 in half the time of quick-cnn's three (91.34% ± 0.12%),
        # the preset's model before (results/seeds.md; README, "Whole commands").
        per_dataset={"fashion-mnist": {"epochs": 4, "label_smoothing": 0.0}},
        # One MNIST epoch of fast-cnn's batches (430): 6,000 pictures of your own get 10 epochs, 87–88%
        # on Fashion-MNIST's where one epoch gave 68–70% (README, "Your own pictures").
        min_steps=math.ceil(55_000 / 128),
    ),
    Preset(
        "strong",
        "lean-cnn",
        "Our best single model: BatchNorm CNN, augmentation, OneCycle, label smoothing",
        # Clothes look the same mirrored; digits don't. Clothes are photographed upright and centred,
        # and their textures suffer from the blur a rotation's resampling brings: whole-pixel shifts
        # of one pixel (checkpoints/README.md, "How the strong Fashion-MNIST run got to 94%"). lean-cnn
        # needs 20 epochs there for strong-cnn's accuracy in 15.
        per_dataset={"fashion-mnist": {"hflip": True, "max_rotation": 0.0, "max_shift": 1, "epochs": 20}},
    ),
)
TUTORIAL_MODELS = (
    "mlp",
    "one-conv",
    "lenet5",
    "two-conv-dropout",
    "fashion-two-conv",
    "pytorch-example",
    "two-conv-fc3",
    "pytorch-examples-mnist",
)

PRESETS: dict[str, Preset] = {preset.name: preset for preset in OUR_PRESETS} | {
    name: Preset(name, name, f"Tutorial recipe: {MODELS[name].recipe.source}") for name in TUTORIAL_MODELS
}


def preset_config(name: str, dataset: str, **overrides) -> TrainConfig:
    """The validated TrainConfig of a preset; ``overrides`` (e.g. epochs) win over the preset."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}")
    preset = PRESETS[name]
    values = preset.values(dataset)
    if preset.min_steps and "epochs" not in overrides and is_known_dataset(dataset):
        values["epochs"] = epochs_for_steps(preset.min_steps, {**values, **overrides})
    return _validated(values, overrides)


MAX_SCALED_EPOCHS = 30  # a tiny dataset's run stays seconds long: each epoch also validates and writes


def epochs_for_steps(min_steps: int, values: dict) -> int:
    """The recipe's epochs, or more when that is fewer than ``min_steps`` batches of this dataset's
    training split. A ``train_subset`` is not counted: it asks for a shorter run, and each epoch still
    validates on the whole validation split. Unknown sizes and bad values leave the epochs as they
    are: validation reports the values, the run the missing data."""
    epochs, batch = values["epochs"], values.get("batch_size")
    count = training_split_size(values["dataset"])
    if count is None or isinstance(batch, bool) or not (isinstance(batch, int) and batch > 0):
        return epochs
    batches = max(1, math.ceil(count / batch))
    return max(epochs, min(MAX_SCALED_EPOCHS, math.ceil(min_steps / batches)))


def recipe_config(model: str, dataset: str, **overrides) -> TrainConfig:
    """The validated TrainConfig of a model with its own recipe; ``overrides`` win over the recipe."""
    if model not in MODELS:
        raise ConfigError(f"unknown model {model!r}; choose one of: {', '.join(MODELS)}")
    return _validated({"dataset": dataset, "model": model, **MODELS[model].recipe.config_values()}, overrides)


def _validated(values: dict, overrides: dict) -> TrainConfig:
    if not is_known_dataset(values["dataset"]):
        raise ConfigError(unknown_dataset_message(values["dataset"]))
    config = TrainConfig(**{**values, **overrides})
    config.validate()
    return config
