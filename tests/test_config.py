import math

import pytest

from core.config import ConfigError, TrainConfig


def test_defaults_are_valid():
    TrainConfig().validate()


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"epochs": 0}, "epochs must be a whole number from 1"),
        ({"batch_size": 0}, "batch_size must be a whole number from 1"),
        ({"lr": -0.1}, "lr must be a number greater than 0"),
        ({"lr": math.nan}, "lr must be a number"),
        ({"lr": math.inf}, "lr must be a number"),
        ({"lr": 0}, "lr must be a number greater than 0"),
        ({"momentum": 1.0}, "momentum"),
        ({"model": "nope"}, "unknown model 'nope'; choose one of: mlp"),
        ({"dataset": "cifar"}, "unknown dataset 'cifar'; choose one of: mnist, fashion-mnist"),
        ({"optimizer": "lbfgs"}, "choose one of: sgd, adam, adamw"),
        ({"schedule": "linear"}, "choose one of: none, onecycle, cosine, step"),
        ({"train_subset": 0}, "train_subset"),
        ({"threads": 0}, "threads"),
        ({"epochs": True}, "epochs"),
        ({"epochs": 2.5}, "epochs"),
        ({"max_rotation": -1}, "max_rotation must be a number from 0 to 180"),
        ({"max_rotation": math.nan}, "max_rotation"),
        ({"max_shift": 1.5}, "max_shift must be a whole number from 0 to 14"),
    ],
)
def test_bad_values_are_refused_with_what_is_allowed(changes, fragment):
    with pytest.raises(ConfigError, match=fragment.replace("(", r"\(")):
        TrainConfig(**changes).validate()


def test_round_trip_through_dict_ignores_unknown_keys():
    config = TrainConfig(model="mlp", lr=0.5, train_subset=100)
    restored = TrainConfig.from_dict({**config.to_dict(), "from_a_newer_version": 1})
    assert restored == config


@pytest.mark.parametrize(
    ("name", "plain"),
    [
        ("T-shirt/top", True),
        ("snake_case_name", True),  # underscores inside a word open no emphasis
        ("café_au_lait", True),  # in any script
        ("класс_1_2", True),
        ("Ankle boot", True),
        ("_x_", False),
        ("'_x_'", False),  # after punctuation an underscore opens emphasis too
        ("(_x_)", False),
        ("www.evil.example", False),
        ("Zero_www.evil.example", False),  # GitHub's markdown links www. after an underscore
        ("- x", False),
        ("3. x", False),
    ],
)
def test_a_plain_name_is_one_markdown_leaves_alone(name, plain):
    from core.config import PLAIN_NAME

    assert bool(PLAIN_NAME.fullmatch(name)) == plain
