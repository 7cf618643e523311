"""Small data the tests make themselves: synthetic images whose class is where a bright block sits
(``core.synthetic``, shared with ``python -m bench --smoke``)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from core.config import TrainConfig
from core.data import DATASETS, DatasetSplits, Split
from core.synthetic import synthetic_images, write_idx_dataset
from core.train import fit, start_run


def synthetic_split(count: int, seed: int) -> Split:
    images, labels = synthetic_images(count, seed)
    return Split(torch.from_numpy(images), torch.from_numpy(labels), torch.arange(count))


@pytest.fixture
def synthetic_data() -> DatasetSplits:
    """A learnable 10-class dataset with the shapes of MNIST (600 train, 200 val, 300 test)."""
    return DatasetSplits(
        info=DATASETS["mnist"],
        train=synthetic_split(600, seed=1),
        val=synthetic_split(200, seed=2),
        test=synthetic_split(300, seed=3),
    )


@pytest.fixture
def idx_data_dir(tmp_path: Path) -> Path:
    """A data root holding small synthetic MNIST and Fashion-MNIST IDX files."""
    root = tmp_path / "data"
    for name in ("mnist", "fashion-mnist"):
        write_idx_dataset(root, name)
    return root


@pytest.fixture
def store(tmp_path, monkeypatch):
    """A run store for jobs (real child processes), DATA_DIR pointing at small synthetic MNIST files."""
    data_dir = tmp_path / "data"
    write_idx_dataset(data_dir, "mnist", train_count=2_400, test_count=200)
    monkeypatch.setenv("DATA_DIR", str(data_dir))
    return tmp_path / "runs"


def small_config(**changes) -> TrainConfig:
    """A config that trains in a second or two on the synthetic data (one thread, plain SGD)."""
    values = dict(
        dataset="mnist",
        model="mlp",
        epochs=3,
        batch_size=32,
        lr=0.05,
        optimizer="sgd",
        momentum=0.9,
        device="cpu",
        threads=1,
        log_every=5,
    )
    return TrainConfig(**{**values, **changes})


@pytest.fixture(scope="session")
def trained_store(tmp_path_factory):
    """Small synthetic IDX datasets and a real two-epoch run on each."""
    root = tmp_path_factory.mktemp("store")
    data_dir, checkpoints = root / "data", root / "runs"
    for name in ("mnist", "fashion-mnist"):
        # Some wrong labels, so that the confusion matrix and the errors page have errors to show.
        write_idx_dataset(data_dir, name, train_count=600, test_count=200, label_noise=0.15)
        config = small_config(dataset=name, model="fashion-two-conv", epochs=2, log_every=4)
        fit(config, start_run(config, checkpoints, run_id=f"{name}-tiny"), data_dir=data_dir)
    return data_dir, checkpoints


@pytest.fixture(scope="session")
def damaged_store(trained_store, tmp_path_factory):
    """The trained MNIST run, and beside it a copy damaged in each way the reliability tests know."""
    from tests.test_reliability_files import make_damaged_store

    return trained_store[0], make_damaged_store(trained_store, tmp_path_factory.mktemp("damaged"))
