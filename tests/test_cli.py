"""The command line, in-process (fast) and once as a real subprocess."""

import json
import os
import subprocess
import sys

import pytest

from core.cli import main
from core.data import PROJECT_ROOT


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["train", "--model", "resnet-9000"], "unknown model 'resnet-9000'; choose one of: mlp"),
        (["train", "--epochs", "0"], "epochs must be a whole number from 1"),
        (["train", "--lr", "-1"], "lr must be a number greater than 0"),
        (["train", "--lr", "nan"], "lr must be a number"),
        (["train", "--lr", "inf"], "lr must be a number"),
        (["train", "--batch-size", "0"], "batch_size must be a whole number from 1"),
        (["train", "--epochs", "two"], "argument --epochs: invalid int value: 'two'"),
        (["train", "--dataset", "cifar"], "unknown dataset 'cifar'; choose one of: mnist, fashion-mnist"),
        (["train", "--optimizer", "lbfgs"], "invalid choice: 'lbfgs'"),
        (["train", "--max-rotation", "-5"], "max_rotation must be a number from 0 to 180"),
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
    from core.cli import build_parser
    from core.cli.train import config_from_args

    args = build_parser().parse_args(["train", "--dataset", "fashion-mnist", "--preset", "strong", "--max-shift", "1"])
    config = config_from_args(args)
    assert (config.model, config.max_shift, config.max_rotation, config.hflip) == ("lean-cnn", 1, 0.0, True)


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


def test_every_config_field_is_a_train_flag_with_its_help():
    import dataclasses

    from core.cli import build_parser
    from core.config import TrainConfig

    parser = build_parser()
    train = parser._subparsers._group_actions[0].choices["train"]
    flags = {action.dest: action for action in train._actions}
    for field in dataclasses.fields(TrainConfig):
        assert field.name in flags, f"--{field.name.replace('_', '-')} is missing"
        assert flags[field.name].help, f"{field.name} has no help text"
    args = parser.parse_args(
        ["train", "--nesterov", "--no-augment", "--train-subset", "500", "--keep-best-by", "val_loss"]
    )
    assert (args.nesterov, args.augment, args.train_subset, args.keep_best_by) == (True, False, 500, "val_loss")


def _verb(capsys, *argv) -> str:
    code = main(list(argv))
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return captured.out


@pytest.fixture
def tiny(trained_store):
    data_dir, checkpoints = trained_store
    return ["--checkpoints", str(checkpoints)], ["--data-dir", str(data_dir)]


def test_dataset_verb_counts_what_the_page_counts(capsys, trained_store):
    from core.data import load_dataset, summarize_dataset

    data_dir, _ = trained_store
    shown = json.loads(_verb(capsys, "dataset", "mnist", "--json", "--data-dir", str(data_dir)))
    summary = summarize_dataset(load_dataset("mnist", data_dir))
    assert shown["counts"] == summary.counts.to_dict(orient="records")
    assert shown["sizes"]["test"] == 200 and shown["image_size"] == [28, 28]
    assert "200 test images of 28×28 pixels, 10 classes" in _verb(
        capsys, "dataset", "mnist", "--data-dir", str(data_dir)
    )


def test_curves_verb_marks_the_kept_epoch(capsys, tiny):
    store, _ = tiny
    shown = json.loads(_verb(capsys, "curves", "mnist-tiny", "--json", *store))
    assert [record["epoch"] for record in shown["history"]] == [1, 2]
    assert shown["kept_epoch"] in (1, 2)
    text = _verb(capsys, "curves", "mnist-tiny", *store)
    assert f"{shown['kept_epoch']} *" in text and "val loss" in text


def test_confusion_verb_matches_the_evaluation(capsys, tiny):
    from core.evaluate import Evaluation
    from core.runs import load_run

    store, _ = tiny
    shown = json.loads(_verb(capsys, "confusion", "mnist-tiny", "--json", *store))
    run = load_run("mnist-tiny", store[1])
    evaluation = Evaluation.from_predictions(run.load_predictions(), run.config.classes)
    assert shown["matrix"] == evaluation.confusion.tolist()
    assert shown["accuracy"] == pytest.approx(evaluation.accuracy)
    assert "most confused" in _verb(capsys, "confusion", "mnist-tiny", "--rates", *store)


def test_errors_verb_filters_like_the_page(capsys, tiny):
    from core.evaluate import select_predictions
    from core.runs import load_run

    store, _ = tiny
    run = load_run("mnist-tiny", store[1])
    predictions = run.load_predictions()
    expected = select_predictions(predictions.probs, predictions.labels, true_class=3)
    shown = json.loads(_verb(capsys, "errors", "mnist-tiny", "--true", "3", "--top", "5", "--json", *store))
    assert shown["matching"] == len(expected)
    assert [image["test index"] for image in shown["images"]] == predictions.indices[expected[:5]].tolist()
    assert all(image["true"] == "3" and image["predicted"] != "3" for image in shown["images"])
    code = main(["errors", "mnist-tiny", "--true", "cat", *store])
    assert code == 2 and "unknown class 'cat'" in capsys.readouterr().err


def test_saliency_verb_writes_a_png_of_both_maps(capsys, tiny, tmp_path):
    from PIL import Image

    store, data = tiny
    output = tmp_path / "maps.png"
    shown = json.loads(
        _verb(
            capsys,
            "saliency",
            "mnist-tiny",
            "7",
            "--method",
            "occlusion",
            "--output",
            str(output),
            "--json",
            *store,
            *data,
        )
    )
    assert [item["role"] for item in shown["maps"]][0] == "predicted"
    with Image.open(output) as picture:
        assert picture.format == "PNG" and picture.width > 2 * picture.height  # two maps side by side
    code = main(["saliency", "mnist-tiny", "99999", *store, *data])
    assert code == 2 and "not among" in capsys.readouterr().err


# A module-level object whose finaliser speaks: it runs only if Python tears its modules down.
_TEARDOWN_PROBE = """
import runpy, sys

class SaysWhenTornDown:
    def __del__(self):
        sys.stderr.write("torn down\\n")

probe = SaysWhenTornDown()
sys.argv = ["core", *sys.argv[1:]]
runpy.run_module("core", run_name="__main__")
"""


@pytest.mark.parametrize(
    ("argv", "code", "said"),
    [
        (["runs", "--checkpoints", "{empty}"], 0, "no runs in"),  # the command returns
        (["--help"], 0, "usage:"),  # argparse exits
        (["train", "--epochs", "0"], 2, "epochs must be a whole number"),  # a refusal
    ],
)
def test_the_command_ends_without_tearing_python_down_and_keeps_its_output_and_code(argv, code, said, tmp_path):
    """Python's teardown costs a second with torch loaded: skipped, yet every line printed (to a pipe,
    so buffered) arrives and the exit code is the command's."""
    argv = [part.format(empty=tmp_path / "none") for part in argv]
    ended = subprocess.run(
        [sys.executable, "-c", _TEARDOWN_PROBE, *argv],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=120,
        env=_BUFFERED,
    )
    assert ended.returncode == code, ended.stderr
    assert said in ended.stdout + ended.stderr
    assert "torn down" not in ended.stderr


_BUFFERED = {name: value for name, value in os.environ.items() if name != "PYTHONUNBUFFERED"}


def test_output_that_cannot_be_written_at_exit_is_an_error_as_in_python(tmp_path):
    """stdout on a full disk: the buffered line fails to flush at exit, and the exit code says so (120,
    Python's own), not the command's 0."""
    with open("/dev/full", "w") as full:
        ended = subprocess.run(
            [sys.executable, "-m", "core", "runs", "--checkpoints", str(tmp_path)],
            stdout=full,
            stderr=subprocess.PIPE,
            cwd=PROJECT_ROOT,
            timeout=120,
            env=_BUFFERED,
        )
    assert ended.returncode == 120
