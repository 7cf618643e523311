"""Checks on the real datasets (fetched by `make data`). `make test` requires them; elsewhere they skip."""

import os

import pytest
import torch

from core.config import TrainConfig
from core.data import DATASETS, default_data_dir, is_present, load_dataset, raw_dir
from core.fetch import verify
from core.train import fit, start_run

pytestmark = pytest.mark.real_data


def require(name: str) -> str:
    if not is_present(name):
        message = f"{name} is not in {default_data_dir()}; run `python -m core data fetch`"
        if os.environ.get("REQUIRE_REAL_DATA") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return name


@pytest.fixture(params=list(DATASETS))
def dataset_name(request):
    return require(request.param)


def test_files_match_the_original_md5(dataset_name):
    info = DATASETS[dataset_name]
    assert verify(info, raw_dir(info, default_data_dir())) == []


def test_official_splits(dataset_name):
    data = load_dataset(dataset_name)
    assert (len(data.train), len(data.val), len(data.test)) == (55_000, 5_000, 10_000)
    assert data.train.images.dtype == torch.uint8
    # Every class is in every split, in roughly its share.
    for split in (data.train, data.val, data.test):
        counts = torch.bincount(split.labels, minlength=10)
        assert counts.min() > 0.07 * len(split) and counts.max() < 0.13 * len(split)
    pixels = data.train.images.float() / 255
    assert pixels.mean().item() == pytest.approx(data.info.mean, abs=0.01)
    assert pixels.std().item() == pytest.approx(data.info.std, abs=0.01)


def test_one_epoch_on_mnist_reaches_97_percent(tmp_path):
    require("mnist")
    config = TrainConfig(
        dataset="mnist", model="two-conv-dropout", epochs=1, batch_size=64, lr=1e-3, optimizer="adam", device="cpu"
    )
    run = start_run(config, tmp_path)
    result = fit(config, run)
    assert result.state == "completed"
    assert result.test_accuracy >= 0.97, f"test accuracy {result.test_accuracy:.2%}"
