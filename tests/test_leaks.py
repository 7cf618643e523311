"""Leaks between splits, found on planted duplicates: exact copies by hash, near ones by features and pixels."""

import re

import numpy as np
import pytest

from core.cli import main
from core.data import DATASETS, load_dataset, raw_dir
from core.fetch import idx_bytes
from core.leaks import exact_duplicates, near_duplicates, nearest_training_images, pixel_correlation, training_file
from core.runs import load_run
from core.synthetic import synthetic_images
from core.train import fit, start_run
from tests.conftest import small_config

EXACT = {3: 100, 17: 250}  # test position: training-file position copied into it
NEAR = {40: 300, 41: 350}  # copied, then a few pixels changed
RELABELLED = 17  # an exact copy whose test label differs from its training twin


@pytest.fixture(scope="module")
def leaky(tmp_path_factory):
    """A data root whose test split holds planted copies of training images, and a run on it."""
    root = tmp_path_factory.mktemp("leaky")
    train_x, train_y = synthetic_images(600, 1)
    test_x, test_y = synthetic_images(80, 2)
    for test_position, train_position in {**EXACT, **NEAR}.items():
        test_x[test_position], test_y[test_position] = train_x[train_position], train_y[train_position]
    for test_position in NEAR:
        test_x[test_position, 0, :3] = 255 - test_x[test_position, 0, :3]  # three pixels of the border
    test_y[RELABELLED] = (test_y[RELABELLED] + 1) % 10
    folder = raw_dir(DATASETS["mnist"], root / "data")
    folder.mkdir(parents=True)
    for name, array in (
        ("train-images-idx3-ubyte", train_x),
        ("train-labels-idx1-ubyte", train_y.astype(np.uint8)),
        ("t10k-images-idx3-ubyte", test_x),
        ("t10k-labels-idx1-ubyte", test_y.astype(np.uint8)),
    ):
        (folder / name).write_bytes(idx_bytes(array))
    config = small_config(model="fashion-two-conv", epochs=2)
    fit(config, start_run(config, root / "runs", run_id="leaky-run"), data_dir=root / "data")
    return root / "data", root / "runs"


def test_exact_copies_are_found_with_their_official_indices(leaky):
    data = load_dataset("mnist", leaky[0])
    pairs = exact_duplicates(data)
    assert [(p.test_index, p.train_index) for p in pairs] == sorted(EXACT.items())
    assert [p.same_label for p in pairs] == [True, False]  # the relabelled copy disagrees


def test_a_shared_fingerprint_is_not_taken_for_a_copy(leaky, monkeypatch):
    import core.leaks

    data = load_dataset("mnist", leaky[0])
    monkeypatch.setattr(core.leaks, "_fingerprints", lambda images: np.zeros(len(images), dtype=np.uint64))
    pairs = exact_duplicates(data)  # every image now collides with every other: the pixels must decide
    assert [(p.test_index, p.train_index) for p in pairs] == sorted(EXACT.items())


def test_fingerprints_of_images_of_any_size_tell_copies_apart():
    from core.leaks import _fingerprints

    images = np.random.default_rng(0).integers(0, 256, (50, 5, 7), dtype=np.uint8)  # 35 bytes: not whole words
    images[7] = images[3]
    prints = _fingerprints(images)
    assert prints[7] == prints[3] and len(set(prints.tolist())) == 49


def test_near_copies_need_both_close_features_and_alike_pixels(leaky):
    data = load_dataset("mnist", leaky[0])
    images, _, indices = training_file(data)
    position = {int(official): p for p, official in enumerate(indices)}
    nearest = np.array([position[NEAR.get(t, EXACT.get(t, t))] for t in range(len(data.test))])
    distances = np.where(np.isin(np.arange(len(data.test)), list(NEAR) + list(EXACT)), 0.001, 0.5)
    pairs = near_duplicates(nearest, distances, data, threshold=0.01, min_correlation=0.9)
    assert sorted((p.test_index, p.train_index) for p in pairs) == sorted(NEAR.items())  # exact ones are not "near"
    assert all(0.9 <= p.correlation < 1 for p in pairs)
    assert near_duplicates(nearest, distances, data, threshold=0.0001) == []  # features too far
    assert near_duplicates(nearest, distances, data, threshold=0.01, min_correlation=0.99999) == []


def test_the_runs_nearest_training_images_find_the_planted_ones(leaky):
    data_dir, runs = leaky
    data = load_dataset("mnist", data_dir)
    run = load_run("leaky-run", runs)
    nearest, distances = nearest_training_images(run, data)
    _, _, indices = training_file(data)
    for test_position, train_index in EXACT.items():
        assert indices[nearest[test_position]] == train_index and distances[test_position] < 1e-5
    assert (run.path / "analysis" / "nearest-training-images.npz").is_file()


def test_pixel_correlation_is_one_for_a_copy_and_zero_for_a_blank():
    images, _ = synthetic_images(2, 0)
    blank = np.zeros_like(images)
    np.testing.assert_allclose(pixel_correlation(images, images), 1.0)
    np.testing.assert_allclose(pixel_correlation(images, blank), 0.0)


def test_the_leaks_verb(leaky, capsys):
    data_dir, runs = leaky
    args = ["leaks", "mnist", "--data-dir", str(data_dir), "--checkpoints", str(runs)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "exact duplicates (same pixels): 2 pairs, 2 of 80 test images; 1 pairs disagree on the label" in out
    assert main([*args, "--run", "leaky-run", "--threshold", "0.5", "--min-correlation", "0.9", "--json"]) == 0
    import json

    found = json.loads(capsys.readouterr().out)
    assert {(p["test_index"], p["train_index"]) for p in found["near"]} & set(NEAR.items())
    assert all(p["correlation"] >= 0.9 for p in found["near"])
    assert main([*args, "--threshold", "3"]) == 2


def test_the_dataset_page_shows_both_kinds_of_leak(leaky, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from tests.test_app import APP

    data_dir, runs = leaky
    monkeypatch.setenv("DATA_DIR", str(data_dir))
    monkeypatch.setenv("CHECKPOINTS_DIR", str(runs))
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["dataset"], at.query_params["run"] = "mnist", "leaky-run"
    at.run()
    at.switch_page("app_pages/dataset.py").run()
    assert not at.exception, [e.value for e in at.exception]
    texts = [m.value for m in at.markdown]
    assert any(t.startswith("**2** test images are exact copies of training images") for t in texts)
    for button in at.button:  # absent when the run's result is already kept (an earlier test made it)
        if button.label.startswith("Find near duplicates with leaky-run"):
            button.click().run()
    at.slider(key="leaks_correlation").set_value(0.9).run()
    said = [m.value for m in at.markdown]
    assert any(
        re.search(r"\*\*1\*\* test image nearly copies|\*\* test images nearly copy a training", t) for t in said
    )
    assert not at.exception
