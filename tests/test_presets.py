import os

import pytest

from core.cli import main
from core.config import ConfigError
from core.data import DATASETS
from core.models import MODELS
from core.presets import PRESETS, TUTORIAL_MODELS, preset_config


@pytest.mark.parametrize("dataset", list(DATASETS))
@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_is_a_valid_config_on_every_dataset(name, dataset):
    config = preset_config(name, dataset)
    assert config.preset == name and config.dataset == dataset and config.model in MODELS


def test_a_preset_per_tutorial_recipe_plus_quick_and_strong():
    assert set(PRESETS) == {"quick", "strong", *TUTORIAL_MODELS}
    config = preset_config("pytorch-example", "mnist")
    assert (config.optimizer, config.lr, config.momentum, config.batch_size, config.epochs) == ("sgd", 0.01, 0.5, 64, 3)


def test_per_dataset_values_and_overrides():
    assert preset_config("quick", "mnist").epochs == 1
    fashion = preset_config("quick", "fashion-mnist")
    assert (fashion.model, fashion.epochs, fashion.label_smoothing) == ("fast-cnn", 4, 0.0)
    assert preset_config("quick", "mnist").label_smoothing == 0.1
    assert preset_config("quick", "fashion-mnist", epochs=1, seed=7).epochs == 1


def test_unknown_preset_and_bad_override():
    with pytest.raises(ConfigError, match="unknown preset 'fast'; choose one of: quick, strong"):
        preset_config("fast", "mnist")
    with pytest.raises(ConfigError, match="epochs"):
        preset_config("quick", "mnist", epochs=0)


def test_cli_refuses_a_preset_and_a_model_together(capsys):
    assert main(["train", "--preset", "quick", "--model", "mlp"]) == 2
    assert "not both" in capsys.readouterr().err


def test_a_dataset_given_another_model_gets_that_model_s_recipe():
    from core.models import MODELS
    from core.presets import Preset

    preset = Preset("p", "small-cnn", "", per_dataset={"fashion-mnist": {"model": "two-conv-dropout", "epochs": 1}})
    values = preset.values("fashion-mnist")
    recipe = MODELS["two-conv-dropout"].recipe.config_values()
    assert values["model"] == "two-conv-dropout" and values["epochs"] == 1
    assert (values["optimizer"], values["lr"], values["batch_size"]) == (
        recipe["optimizer"],
        recipe["lr"],
        recipe["batch_size"],
    )
    assert preset.values("mnist")["model"] == "small-cnn"


def test_the_quick_preset_gives_a_small_dataset_more_epochs_of_its_fewer_batches(tmp_path, monkeypatch):
    """At least one MNIST epoch's worth of steps (430 batches of 128): 5,500 training images make 43
    batches, so 10 epochs; given epochs win; a dataset not here keeps the recipe's."""
    from core.presets import MAX_SCALED_EPOCHS, preset_config
    from core.synthetic import write_idx_dataset

    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    assert preset_config("quick", "mnist").epochs == 1  # nothing fetched into this root
    write_idx_dataset(tmp_path, "mnist", train_count=6_000)  # 500 held out for validation
    assert preset_config("quick", "mnist").epochs == 10
    assert preset_config("quick", "mnist", batch_size=64).epochs == 5
    assert preset_config("quick", "mnist", epochs=2).epochs == 2
    assert preset_config("quick", "mnist", train_subset=500).epochs == 10  # a subset asks for less: not counted
    with pytest.raises(ConfigError, match="batch_size"):  # refused by validation, not scaled with
        preset_config("quick", "mnist", batch_size=True)
    assert preset_config("strong", "mnist").epochs == 14  # a preset without a step floor
    write_idx_dataset(tmp_path, "mnist", train_count=240)  # 20 held out: 220 images, 2 batches
    assert preset_config("quick", "mnist").epochs == MAX_SCALED_EPOCHS


def test_the_training_split_size_comes_from_the_labels_header(tmp_path):
    from core.data import load_dataset, training_split_size
    from core.synthetic import write_idx_dataset

    assert training_split_size("fashion-mnist", tmp_path) is None
    labels = tmp_path / "FashionMNIST" / "raw" / "train-labels-idx1-ubyte"
    labels.parent.mkdir(parents=True)
    os.mkfifo(labels)  # would block a plain open() forever
    assert training_split_size("fashion-mnist", tmp_path) is None
    labels.unlink()
    write_idx_dataset(tmp_path, "fashion-mnist", train_count=1_200)
    assert training_split_size("fashion-mnist", tmp_path) == len(load_dataset("fashion-mnist", tmp_path).train) == 1_100
