"""Checks on the real datasets (fetched by `make data`). `make test` requires them; elsewhere they skip."""

import json
import os

import numpy as np
import pytest
import torch

from core.config import TrainConfig
from core.data import DATASETS, PROJECT_ROOT, default_data_dir, is_present, load_dataset, raw_dir
from core.evaluate import predict
from core.fetch import verify
from core.presets import preset_config
from core.runs import load_run
from core.train import fit, start_run

pytestmark = pytest.mark.real_data


def require(name: str) -> str:
    if not is_present(name):
        message = f"{name} is not in {default_data_dir()}; run `python -m core data fetch`"
        if os.environ.get("REQUIRE_REAL_DATA") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return name


FETCHED_BY_MAKE = ("mnist", "fashion-mnist")  # `make data` gets these; the rest of the family is optional
# Published sizes of the official files (training file, test split) of the rest of the family.
FAMILY_SIZES = {
    "kmnist": (60_000, 10_000),
    "qmnist": (60_000, 50_000),
    "emnist-balanced": (112_800, 18_800),
    "emnist-letters": (124_800, 20_800),
    "emnist-digits": (240_000, 40_000),
}


@pytest.fixture(params=FETCHED_BY_MAKE)
def dataset_name(request):
    return require(request.param)


@pytest.mark.parametrize("name", list(FAMILY_SIZES))
def test_the_rest_of_the_family_where_fetched(name):
    if not is_present(name):
        pytest.skip(f"{name} is not fetched here (its mirrors can't be reached from every machine)")
    data = load_dataset(name)
    assert (len(data.train) + len(data.val), len(data.test)) == FAMILY_SIZES[name]
    labels = torch.cat([data.train.labels, data.test.labels])
    assert int(labels.min()) == 0 and int(labels.max()) == DATASETS[name].num_classes - 1
    pixels = data.train.images.float() / 255
    assert pixels.mean().item() == pytest.approx(data.info.mean, abs=0.01)


def test_a_folder_of_real_pngs_comes_back_exactly(tmp_path):
    """Fashion-MNIST exported as PNG files and added back with ``data add`` is the same images, class by class."""
    from PIL import Image

    from core.userdata import add_dataset

    data = load_dataset(require("fashion-mnist"))
    classes = data.info.classes
    for split, part, count in (("train", data.train, 1_200), ("test", data.test, 300)):
        for n in range(count):
            folder = tmp_path / "pictures" / split / classes[int(part.labels[n])].replace("/", "-")
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(part.images[n].numpy()).save(folder / f"{int(part.indices[n]):05}.png")
    result = add_dataset("fashion-pngs", tmp_path / "pictures", tmp_path / "data")
    added = load_dataset("fashion-pngs", tmp_path / "data")
    assert sum(result.counts["test"]) == 300 and result.skipped == []
    originals = {bytes(image.numpy().tobytes()) for image in data.test.images[:300]}
    assert {bytes(image.numpy().tobytes()) for image in added.test.images} == originals


@pytest.mark.parametrize("name", FETCHED_BY_MAKE)
def test_no_test_image_is_an_exact_copy_of_a_training_image(name):
    from core.leaks import exact_duplicates

    assert exact_duplicates(load_dataset(require(name))) == []


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


SHIPPED_RUNS = sorted(path.name for path in (PROJECT_ROOT / "checkpoints").iterdir() if path.is_dir())


@pytest.mark.parametrize("run_id", SHIPPED_RUNS)
def test_a_shipped_run_is_what_its_preset_makes_and_its_weights_give_its_predictions(run_id):
    run = load_run(run_id, PROJECT_ROOT / "checkpoints")
    config = run.config
    require(config.dataset)
    # Rerunning the recorded command (`--preset P --dataset D --run-id ID`) trains the same recipe.
    # (A config saved before a field existed reads as that field's default, as training it did.)
    saved = config.train_values()
    preset = preset_config(config.preset, config.dataset).to_dict()
    recipe_keys = set(preset) - {"device", "threads"}
    assert {key: saved[key] for key in recipe_keys} == {key: preset[key] for key in recipe_keys}
    assert run.status().state == "completed"
    # The weights load into today's architecture and give the stored test predictions.
    data = load_dataset(config.dataset)
    logits = predict(run.load_model(), data.test.images, data.info.mean, data.info.std)
    stored = run.load_predictions()
    assert np.array_equal(stored.labels, data.test.labels.numpy())
    assert np.mean(logits.argmax(1).numpy() != stored.predicted) < 0.001
    assert run.status().test_accuracy == pytest.approx(np.mean(stored.predicted == stored.labels))


@pytest.mark.parametrize("run_id", SHIPPED_RUNS)
def test_the_page_verbs_work_on_a_shipped_run(run_id, capsys, tmp_path):
    """dataset, curves, confusion, errors and saliency: what the pages show, from the command line."""
    from core.cli import main

    store = ["--checkpoints", str(PROJECT_ROOT / "checkpoints")]
    run = load_run(run_id, PROJECT_ROOT / "checkpoints")
    require(run.config.dataset)
    assert main(["dataset", run.config.dataset]) == 0
    assert main(["curves", run_id, *store]) == 0
    assert main(["confusion", run_id, *store]) == 0
    assert main(["errors", run_id, "--top", "3", *store]) == 0
    output = capsys.readouterr().out
    assert "60,000" not in output and "55,000 train" in output and "* the kept epoch" in output
    [first_error] = json.loads(_run_json(capsys, main, ["errors", run_id, "--top", "1", "--json", *store]))["images"]
    png = tmp_path / "maps.png"
    assert main(["saliency", run_id, str(first_error["test index"]), "--output", str(png), *store]) == 0
    assert png.stat().st_size > 0


def _run_json(capsys, main, argv) -> str:
    assert main(argv) == 0
    return capsys.readouterr().out
