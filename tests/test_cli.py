"""The command line, in-process (fast) and once as a real subprocess."""

import json
import subprocess
import sys

import pytest

from core.__main__ import main
from core.data import PROJECT_ROOT


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["train", "--model", "resnet-9000"], "unknown model 'resnet-9000'; choose one of: mlp"),
        (["train", "--epochs", "0"], "epochs must be a whole number from 1"),
        (["train", "--lr", "-1"], "lr must be a finite number above 0"),
        (["train", "--lr", "nan"], "lr must be a finite number"),
        (["train", "--lr", "inf"], "lr must be a finite number"),
        (["train", "--batch-size", "0"], "batch_size must be a whole number from 1"),
        (["train", "--epochs", "two"], "argument --epochs: invalid int value: 'two'"),
        (["train", "--dataset", "cifar"], "argument --dataset: invalid choice: 'cifar'"),
        (["train", "--optimizer", "lbfgs"], "invalid choice: 'lbfgs'"),
        (["train", "--max-rotation", "-5"], "max_rotation must be a finite number from 0 to 180"),
        (["train", "--max-shift", "20"], "max_shift must be a whole number from 0 to 14"),
    ],
)
def test_bad_arguments_say_what_is_wrong_in_one_line(argv, fragment, capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        code = main([*argv, "--checkpoints", str(tmp_path)])
        raise SystemExit(code)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert fragment in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not any(tmp_path.iterdir()), "a refused run must not create a folder"


def test_flags_on_top_of_a_preset():
    from core.__main__ import build_parser, config_from_args

    args = build_parser().parse_args(["train", "--dataset", "fashion-mnist", "--preset", "strong", "--max-shift", "1"])
    config = config_from_args(args)
    assert (config.model, config.max_shift, config.max_rotation, config.hflip) == ("strong-cnn", 1, 0.0, True)


def test_models_lists_names_and_parameter_counts(capsys):
    assert main(["models", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["fashion-two-conv"]["params"] == 28_938
    assert rows["pytorch-example"]["recipe"] == {
        **rows["pytorch-example"]["recipe"],
        "optimizer": "sgd",
        "lr": 0.01,
        "momentum": 0.5,
        "batch_size": 64,
        "epochs": 3,
    }
    assert main(["models"]) == 0
    assert "3,761,034" in capsys.readouterr().out


def test_runs_on_an_empty_store_says_how_to_train(capsys, tmp_path):
    assert main(["runs", "--checkpoints", str(tmp_path)]) == 0
    assert "python -m core train" in capsys.readouterr().out


def test_evaluate_unknown_run(capsys, tmp_path):
    assert main(["evaluate", "nope", "--checkpoints", str(tmp_path)]) == 1
    assert "no run 'nope'" in capsys.readouterr().err


def test_train_runs_and_evaluate_end_to_end(idx_data_dir, tmp_path):
    """The real entry point: train on small IDX files, list the run, recompute its predictions."""
    checkpoints = tmp_path / "runs"
    env_args = ["--data-dir", str(idx_data_dir), "--checkpoints", str(checkpoints)]

    def cli(*args):
        return subprocess.run(
            [sys.executable, "-m", "core", *args], capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=300
        )

    train_args = "--dataset fashion-mnist --model fashion-two-conv --epochs 2 --threads 1 --quiet --run-id smoke"
    trained = cli("train", *train_args.split(), *env_args)
    assert trained.returncode == 0, trained.stderr
    run_path = trained.stdout.strip().splitlines()[-1]
    assert "test accuracy" in trained.stderr

    listed = cli("runs", "--json", "--checkpoints", str(checkpoints))
    [summary] = json.loads(listed.stdout)
    assert summary["path"] == run_path and summary["id"] == "smoke"
    assert summary["state"] == "completed" and summary["epochs_done"] == 2 and summary["model"] == "fashion-two-conv"
    assert 0 <= summary["test_accuracy"] <= 1

    evaluated = cli("evaluate", summary["id"], "--json", "--device", "cpu", *env_args)
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads(evaluated.stdout)["test_accuracy"] == pytest.approx(summary["test_accuracy"])


def test_train_without_the_dataset_says_how_to_fetch_it_and_creates_no_run(capsys, tmp_path):
    code = main(["train", "--model", "mlp", "--data-dir", str(tmp_path / "empty"), "--checkpoints", str(tmp_path)])
    assert code == 1
    err = capsys.readouterr().err
    assert "python -m core data fetch --dataset mnist" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []
