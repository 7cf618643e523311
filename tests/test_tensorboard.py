"""A TensorBoard log's scalars as a run's history, written the way users write them (SummaryWriter)."""

import pytest
from torch.utils.tensorboard import SummaryWriter

from core.config import ConfigError
from core.tensorboard import field_for, history_from_tensorboard, parse_tags


@pytest.fixture
def logdir(tmp_path):
    """Three epochs of ten batches: the training loss every batch, validation figures once an epoch."""
    writer = SummaryWriter(log_dir=str(tmp_path / "tb"))
    for step in range(30):
        writer.add_scalar("Loss/train", 1.0 + step, step)
        if step % 10 == 9:
            epoch = step // 10 + 1
            writer.add_scalar("Loss/val", 1.0 / epoch, step)
            writer.add_scalar("Accuracy/val", 90.0 + epoch, step)  # in percent, as many scripts log it
            writer.add_scalar("learning rate", 0.1 / epoch, step)
    writer.close()
    return tmp_path / "tb"


def test_tags_become_fields_by_their_words():
    assert field_for("Loss/train") == "train_loss" and field_for("val_loss") == "val_loss"
    assert field_for("Accuracy/validation") == "val_accuracy" and field_for("train/acc") == "train_accuracy"
    assert field_for("loss") == "train_loss" and field_for("learning rate") == "learning_rate"


def test_epochs_are_the_sparsest_series_and_denser_ones_are_averaged(logdir):
    history = history_from_tensorboard(logdir)
    assert [record["epoch"] for record in history] == [1, 2, 3]
    assert [record["val_loss"] for record in history] == pytest.approx([1.0, 0.5, 1 / 3])
    assert [record["train_loss"] for record in history] == pytest.approx([5.5, 15.5, 25.5])  # batches 0–9, 10–19…
    assert [record["val_accuracy"] for record in history] == pytest.approx([0.91, 0.92, 0.93])
    assert history[1]["learning_rate"] == pytest.approx(0.05)


def test_a_tag_can_be_named_by_hand(logdir):
    history = history_from_tensorboard(logdir, parse_tags(["val_loss=Loss/train"]))
    assert history[0]["val_loss"] == pytest.approx(5.5)
    with pytest.raises(ConfigError, match="--tag names Nope, not in the log"):
        history_from_tensorboard(logdir, {"val_loss": "Nope"})
    with pytest.raises(ConfigError, match="FIELD=TAG"):
        parse_tags(["Loss/val"])


def test_a_folder_without_events_says_so(tmp_path):
    with pytest.raises(ConfigError, match="no TensorBoard event file"):
        history_from_tensorboard(tmp_path)


def test_an_import_with_its_tensorboard_log_has_curves(logdir, tmp_path, capsys):
    import json

    import torch

    from core.cli import main
    from core.models import create_model
    from tests.conftest import write_idx_dataset

    write_idx_dataset(tmp_path / "data", "mnist", train_count=300, test_count=60)
    torch.save(create_model("mlp").state_dict(), tmp_path / "mlp.pt")
    paths = ["--data-dir", str(tmp_path / "data"), "--checkpoints", str(tmp_path / "runs")]
    argv = ["import", "--dataset", "mnist", "--weights", str(tmp_path / "mlp.pt"), "--model", "mlp"]
    assert main([*argv, "--tensorboard", str(logdir), "--run-id", "logged", *paths]) == 0
    capsys.readouterr()
    assert main(["curves", "logged", "--json", *paths[2:]]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [record["val_loss"] for record in shown["history"]] == pytest.approx([1.0, 0.5, 1 / 3])
    assert shown["kept_epoch"] == 3  # the imported weights are the last epoch's


def test_a_lightning_style_epoch_scalar_is_not_taken_for_the_epoch_number(tmp_path):
    # PyTorch Lightning logs "epoch" (0, 0, …, 1, 1, …) at every step; it was read as the history's own epoch.
    writer = SummaryWriter(log_dir=str(tmp_path / "tb"))
    for step in range(20):
        writer.add_scalar("epoch", step // 10, step)
        writer.add_scalar("train_loss_step", 2.0 - step / 20, step)
        writer.add_scalar("examples_seen", 64 * step, step)
        if step % 10 == 9:
            writer.add_scalar("val_loss", 1.0 / (step // 10 + 1), step)
    writer.close()
    history = history_from_tensorboard(tmp_path / "tb")
    assert [record["epoch"] for record in history] == [1, 2]
    assert [record["val_loss"] for record in history] == pytest.approx([1.0, 0.5])
    assert history[1]["logged_examples_seen"] == pytest.approx(64 * 14.5)
    with pytest.raises(ConfigError, match="epoch is the history's own"):
        parse_tags(["epoch=epoch"])
