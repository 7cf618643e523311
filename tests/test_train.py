import math
import os
import signal

import numpy as np
import pytest
import torch

from core.augment import (
    describe_augmentation,
    make_augmentation,
    random_hflip,
    random_shift_rotate,
    random_whole_pixel_shift,
)
from core.config import ConfigError
from core.devices import resolve_device
from core.evaluate import evaluate_loss_accuracy
from core.runs import Run, list_runs, load_run
from core.train import fit, start_run
from tests.conftest import small_config


def test_a_short_run_learns_and_is_stored(tmp_path, synthetic_data):
    config = small_config()
    run = start_run(config, tmp_path)
    events = []
    result = fit(config, run, data=synthetic_data, on_progress=events.append)

    assert result.state == "completed"
    losses = [r["train_loss"] for r in result.history]
    assert losses[-1] < losses[0] * 0.5
    assert result.history[-1]["val_accuracy"] > 0.9
    assert result.test_accuracy > 0.9

    stored = load_run(run.path)
    status = stored.status()
    assert status.state == "completed" and status.test_accuracy == result.test_accuracy
    assert [r["epoch"] for r in stored.history()] == [1, 2, 3]
    for key in ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds", "batch_losses"):
        assert key in stored.history()[0]
    predictions = stored.load_predictions()
    assert predictions.probs.shape == (300, 10)
    assert np.allclose(predictions.probs.sum(1), 1, atol=1e-4)
    assert np.mean(predictions.predicted == predictions.labels) == pytest.approx(result.test_accuracy)
    assert stored.config.classes[0] == "0" and stored.config.mean == pytest.approx(0.1307)
    [summary] = list_runs(tmp_path)
    assert summary.state == "completed" and summary.epochs_done == 3

    kinds = [e.kind for e in events]
    assert kinds.count("epoch") == 3 and kinds.count("batch") >= 3 * 3
    batch_events = [e for e in events if e.kind == "batch"]
    assert all(0 < e.batch <= e.batches for e in batch_events)
    assert [e.examples_seen for e in batch_events] == sorted(e.examples_seen for e in batch_events)


def test_the_kept_weights_are_those_of_the_lowest_validation_loss(tmp_path, synthetic_data):
    # A learning rate that makes the validation loss go up and down.
    config = small_config(epochs=5, lr=0.3, momentum=0.9)
    run = start_run(config, tmp_path)
    result = fit(config, run, data=synthetic_data)
    val_losses = [r["val_loss"] for r in result.history]
    assert result.best_epoch == int(np.argmin(val_losses)) + 1
    model = load_run(run.path).load_model()
    loss, _, _ = evaluate_loss_accuracy(model, synthetic_data.val.images, synthetic_data.val.labels, 0.1307, 0.3081)
    assert loss == pytest.approx(min(val_losses), rel=1e-5)
    assert load_run(run.path).status().best_epoch == result.best_epoch


def test_same_seed_same_run(synthetic_data):
    first = fit(small_config(epochs=1, augment=True), data=synthetic_data)
    second = fit(small_config(epochs=1, augment=True), data=synthetic_data)
    assert first.history[0]["train_loss"] == second.history[0]["train_loss"]
    third = fit(small_config(epochs=1, augment=True, seed=1), data=synthetic_data)
    assert third.history[0]["train_loss"] != first.history[0]["train_loss"]


def test_a_diverging_loss_ends_as_failed_with_advice(tmp_path, synthetic_data):
    config = small_config(epochs=3, lr=100.0, momentum=0.0)
    run = start_run(config, tmp_path)
    result = fit(config, run, data=synthetic_data)
    assert result.state == "failed"
    status = load_run(run.path).status()
    assert status.state == "failed"
    assert "epoch" in status.error and "batch" in status.error and "smaller learning rate" in status.error


def test_a_nan_learning_rate_is_refused_before_anything_starts(tmp_path, synthetic_data):
    with pytest.raises(ConfigError, match="lr must be a number"):
        start_run(small_config(lr=math.nan), tmp_path)
    with pytest.raises(ConfigError):
        fit(small_config(lr=math.nan), data=synthetic_data)
    assert list_runs(tmp_path) == []


def test_cancel_keeps_the_best_weights_so_far(tmp_path, synthetic_data):
    config = small_config(epochs=5)
    run = start_run(config, tmp_path)

    def cancel_in_epoch_two(progress):
        if progress.epoch == 2 and progress.kind == "batch":
            raise KeyboardInterrupt

    result = fit(config, run, data=synthetic_data, on_progress=cancel_in_epoch_two)
    assert result.state == "cancelled"
    stored = load_run(run.path)
    assert stored.status().state == "cancelled" and "epoch 2" in stored.status().error
    assert len(stored.history()) == 1
    assert stored.load_model() is not None


def test_a_cancel_while_an_epoch_is_written_waits_until_its_weights_are_kept(tmp_path, synthetic_data, monkeypatch):
    # The signal a Cancel sends, arriving just after the first epoch's history line: before the fix the
    # run ended there, with that epoch in its history and no weights.
    config = small_config(epochs=5)
    run = start_run(config, tmp_path)
    append_history = Run.append_history

    def append_then_cancel(self, record):
        append_history(self, record)
        if record["epoch"] == 1:
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(Run, "append_history", append_then_cancel)
    # Ctrl-C's usual handler, whatever this process started with (a job started with `&` by a shell
    # without job control starts with SIGINT ignored, and then no SIGINT ends anything).
    started_with = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        result = fit(config, run, data=synthetic_data)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # put back
    finally:
        signal.signal(signal.SIGINT, started_with)
    assert result.state == "cancelled"
    stored = load_run(run.path)
    assert len(stored.history()) == 1
    assert stored.load_model() is not None
    assert stored.status().best_epoch == 1


def test_train_subset_uses_that_many_images(synthetic_data):
    result = fit(small_config(epochs=1, train_subset=64, batch_size=32), data=synthetic_data)
    assert result.history[0]["examples_seen"] == 64


@pytest.mark.parametrize(("optimizer", "schedule"), [("adam", "cosine"), ("adamw", "onecycle"), ("sgd", "none")])
def test_optimizers_and_schedules(synthetic_data, optimizer, schedule):
    config = small_config(epochs=2, optimizer=optimizer, schedule=schedule, lr=0.01 if optimizer != "sgd" else 0.05)
    result = fit(config, data=synthetic_data)
    assert result.state == "completed"
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    if schedule != "none":  # both schedules end far below the peak
        assert result.history[-1]["lr"] < config.lr / 10


def test_fit_leaves_the_process_settings_alone(synthetic_data):
    """Threads and the global random state belong to the entry point, not to fit()."""
    before_threads = torch.get_num_threads()
    torch.manual_seed(1234)
    expected = torch.rand(3)
    torch.manual_seed(1234)
    fit(small_config(epochs=1, threads=1, seed=7), data=synthetic_data)
    assert torch.equal(torch.rand(3), expected)
    assert torch.get_num_threads() == before_threads


def test_augmentation_keeps_shape_and_ink():
    pixels = torch.zeros(8, 1, 28, 28)
    pixels[:, :, 10:18, 10:18] = 1.0
    moved = random_shift_rotate(pixels, torch.Generator().manual_seed(0))
    assert moved.shape == pixels.shape
    assert not torch.equal(moved, pixels)
    # Small shifts and turns keep a centred block inside the frame.
    assert torch.allclose(moved.sum(dim=(1, 2, 3)), pixels.sum(dim=(1, 2, 3)), rtol=0.05)


def test_whole_pixel_shifts_copy_pixels_without_blurring_them():
    pixels = torch.zeros(64, 1, 28, 28)
    pixels[:, :, 10:18, 12:16] = torch.linspace(0.1, 1.0, 32).view(8, 4)
    moved = random_whole_pixel_shift(pixels, torch.Generator().manual_seed(0))
    assert moved.shape == pixels.shape
    offsets = set()
    for before, after in zip(pixels[:, 0], moved[:, 0], strict=True):
        # Each image is its original rolled by a whole number of pixels (the ink stays inside the frame).
        matches = [
            (dy, dx)
            for dy in range(-2, 3)
            for dx in range(-2, 3)
            if torch.equal(after, before.roll((dy, dx), dims=(0, 1)))
        ]
        assert len(matches) == 1
        offsets.add(matches[0])
    assert len(offsets) > 10  # the 25 offsets are all drawn, not one for the batch


def test_rotation_zero_means_whole_pixel_shifts():
    pixels = torch.rand(16, 1, 28, 28)
    sharp = make_augmentation(small_config(augment=True, max_rotation=0.0), torch.Generator().manual_seed(0))
    turned = make_augmentation(small_config(augment=True), torch.Generator().manual_seed(0))
    original_values = set(pixels.flatten().tolist()) | {0.0}
    assert set(sharp(pixels).flatten().tolist()) <= original_values
    assert not set(turned(pixels).flatten().tolist()) <= original_values  # interpolated
    assert make_augmentation(small_config(augment=False, max_rotation=0.0), torch.Generator()) is None
    still = make_augmentation(small_config(augment=True, max_shift=0, max_rotation=0.0), torch.Generator())
    assert torch.equal(still(pixels), pixels)


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({}, "none"),
        ({"augment": True}, "shifts up to 2 px and turns up to 10°"),
        (
            {"augment": True, "max_rotation": 0.0, "max_shift": 1, "hflip": True},
            "mirror images, whole-pixel shifts up to 1 px",
        ),
        ({"augment": True, "max_rotation": 0.0, "max_shift": 0}, "none"),
    ],
)
def test_augmentation_in_words(changes, words):
    assert describe_augmentation(small_config(**changes)) == words


def test_device_choice():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in ("cuda", "mps", "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="not available"):
            resolve_device("cuda")


def test_an_unexpected_error_marks_the_run_failed_and_is_raised(tmp_path):
    config = small_config()
    run = start_run(config, tmp_path)
    with pytest.raises(Exception, match="fetch"):
        fit(config, run, data_dir=tmp_path / "no-data")
    status = load_run(run.path).status()
    assert status.state == "failed" and "DataError" in status.error


def test_keeping_by_validation_accuracy(tmp_path, synthetic_data):
    config = small_config(epochs=5, lr=0.3, momentum=0.9, keep_best_by="val_accuracy")
    run = start_run(config, tmp_path)
    result = fit(config, run, data=synthetic_data)
    accuracies = [r["val_accuracy"] for r in result.history]
    assert result.best_epoch == int(np.argmax(accuracies)) + 1
    [summary] = list_runs(tmp_path)
    assert summary.best_epoch == result.best_epoch and summary.best_val_accuracy == max(accuracies)


def test_horizontal_flips_mirror_about_half_the_batch():

    pixels = torch.zeros(200, 1, 28, 28)
    pixels[:, :, :, :5] = 1.0  # ink on the left edge
    flipped = random_hflip(pixels, torch.Generator().manual_seed(0))
    mirrored = flipped[:, 0, 0, -1] == 1.0
    assert 60 < mirrored.sum() < 140
    assert torch.equal(flipped[mirrored], pixels[mirrored].flip(-1))
    assert torch.equal(flipped[~mirrored], pixels[~mirrored])
