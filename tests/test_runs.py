import dataclasses
import json
import os
import time

import numpy as np
import pytest
import torch

from core.config import RunConfig
from core.models import create_model
from core.runs import (
    PREDICTIONS_FILE,
    STATUS_FILE,
    WEIGHTS_FILE,
    RunError,
    create_run,
    list_runs,
    load_run,
)
from core.storage import atomic_open, atomic_write_json

CONFIG = RunConfig(
    dataset="mnist",
    model="pytorch-example",
    classes=tuple(str(i) for i in range(10)),
    mean=0.1307,
    std=0.3081,
    epochs=2,
)


def completed_run(root, run_id="good"):
    run = create_run(CONFIG, root, run_id=run_id)
    run.write_status("running")
    torch.manual_seed(0)
    model = create_model("pytorch-example")
    run.save_state_dict(model.state_dict())
    run.write_history(
        [{"epoch": 1, "val_loss": 0.5, "val_accuracy": 0.9}, {"epoch": 2, "val_loss": 0.4, "val_accuracy": 0.93}]
    )
    probs = np.full((6, 10), 0.01, dtype=np.float32)
    probs[np.arange(6), [0, 1, 2, 3, 4, 4]] = 0.91
    run.save_predictions(probs, np.array([0, 1, 2, 3, 4, 5]), np.arange(6))
    run.write_status("completed", test_accuracy=5 / 6)
    return run, model


def test_round_trip(tmp_path):
    run, model = completed_run(tmp_path)
    loaded = load_run("good", tmp_path)
    assert loaded.config.model == "pytorch-example" and loaded.config.created
    assert loaded.status().state == "completed"
    assert [r["epoch"] for r in loaded.history()] == [1, 2]
    restored = loaded.load_model()
    for key, value in model.state_dict().items():
        assert torch.equal(restored.state_dict()[key], value)
    predictions = loaded.load_predictions()
    assert predictions.probs.shape == (6, 10) and predictions.predicted.tolist() == [0, 1, 2, 3, 4, 4]
    [summary] = list_runs(tmp_path)
    assert (summary.state, summary.epochs_done, summary.best_epoch) == ("completed", 2, 2)
    assert summary.best_val_accuracy == 0.93 and summary.test_accuracy == pytest.approx(5 / 6)
    # A folder path works as well as an id.
    assert load_run(run.path).id == "good"


def test_run_ids_are_unique(tmp_path):
    first = create_run(CONFIG, tmp_path)
    second = create_run(CONFIG, tmp_path)
    assert first.path != second.path
    with pytest.raises(RunError, match="may hold only"):
        create_run(CONFIG, tmp_path, run_id="../escape")
    for linked in ("www.evil.example", "x_www.evil.example"):  # markdown makes www.… a link, after _ too
        with pytest.raises(RunError, match="no www"):
            create_run(CONFIG, tmp_path, run_id=linked)


@pytest.mark.parametrize(
    ("damage", "fragment"),
    [
        (lambda run: (run.path / "config.json").write_text("{not json"), "config.json is not valid JSON"),
        (lambda run: (run.path / "config.json").write_text("[1, 2]"), "config.json is not a JSON object"),
        (lambda run: (run.path / STATUS_FILE).unlink(), "status.json is missing"),
        (lambda run: (run.path / STATUS_FILE).write_text('{"state": "exploded"}'), "unknown state"),
        (lambda run: (run.path / "history.jsonl").write_text('{"epoch": 1}\nnot json\n'), "line 2 is not JSON"),
        (lambda run: (run.path / "config.json").write_bytes(b"\xff\xfe\x00"), "config.json is not UTF-8 text"),
    ],
)
def test_a_corrupt_run_is_listed_with_its_error_and_the_others_are_unaffected(tmp_path, damage, fragment):
    completed_run(tmp_path, "good")
    broken, _ = completed_run(tmp_path, "broken")
    damage(broken)
    summaries = {s.id: s for s in list_runs(tmp_path)}
    assert summaries["good"].state == "completed"
    assert summaries["broken"].state == "unreadable"
    assert fragment in summaries["broken"].error


def test_truncated_weights_are_a_clear_error(tmp_path):
    run, _ = completed_run(tmp_path)
    data = (run.path / WEIGHTS_FILE).read_bytes()
    (run.path / WEIGHTS_FILE).write_bytes(data[: len(data) // 2])
    with pytest.raises(RunError, match="model.safetensors is unreadable"):
        run.load_model()


def test_weights_of_another_model_are_a_clear_error(tmp_path):
    run, _ = completed_run(tmp_path)
    run.write_config(dataclasses.replace(run.config, model="mlp"))
    with pytest.raises(RunError, match="does not fit model 'mlp'"):
        run.load_model()
    run.write_config(dataclasses.replace(run.config, model="no-such-model"))
    with pytest.raises(RunError, match="unknown model 'no-such-model'"):
        run.load_model()


def test_predictions_of_the_wrong_shape_are_refused(tmp_path):
    run, _ = completed_run(tmp_path)
    np.savez(run.path / PREDICTIONS_FILE, probs=np.zeros((5, 3)), labels=np.zeros(5, dtype=int), indices=np.arange(5))
    with pytest.raises(RunError, match="wrong shape"):
        run.load_predictions()
    np.savez(run.path / PREDICTIONS_FILE, probs=np.zeros((5, 10)))
    with pytest.raises(RunError, match="has no array"):
        run.load_predictions()


def test_pickled_predictions_are_never_unpickled(tmp_path):
    run, _ = completed_run(tmp_path)
    np.savez(
        run.path / PREDICTIONS_FILE,
        probs=np.array([{"a": 1}], dtype=object),
        labels=np.zeros(1, dtype=int),
        indices=np.arange(1),
    )
    with pytest.raises(RunError, match="not numbers"):
        run.load_predictions()


def test_running_run_with_stale_heartbeat_or_dead_process_is_interrupted(tmp_path):
    run, _ = completed_run(tmp_path)
    run.write_status("running")
    assert load_run(run.path).status().state == "running"  # this very process holds it

    status = json.loads((run.path / STATUS_FILE).read_text())
    atomic_write_json(run.path / STATUS_FILE, {**status, "heartbeat": time.time() - 3600})
    assert run.status().state == "interrupted"
    assert "stopped without finishing" in run.status().error

    dead = os.fork()
    if dead == 0:
        os._exit(0)
    os.waitpid(dead, 0)
    atomic_write_json(run.path / STATUS_FILE, {**status, "pid": dead, "heartbeat": time.time()})
    assert run.status().state == "interrupted"


def test_a_live_process_that_has_not_beaten_yet_is_running_for_a_while(tmp_path):
    run, _ = completed_run(tmp_path)
    run.write_status("running")  # this process, alive, on this host
    status = json.loads((run.path / STATUS_FILE).read_text())
    for age, token, state in ((90, None, "running"), (90, "t", "interrupted"), (700, None, "interrupted")):
        # A job's child has no token until it has started, and beats from then on: a token and no beat is
        # a stopped process; ten minutes without a first beat is one that won't start.
        atomic_write_json(run.path / STATUS_FILE, {**status, "heartbeat": time.time() - age, "job_token": token})
        assert run.status().state == state, (age, token)


def test_empty_or_missing_store_lists_nothing(tmp_path):
    assert list_runs(tmp_path / "absent") == []
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "stray-file.txt").write_text("not a run")
    assert list_runs(tmp_path / "store") == []


def test_unknown_run_is_a_clear_error(tmp_path):
    with pytest.raises(RunError, match="no run 'nope'"):
        load_run("nope", tmp_path)


def test_a_failed_write_keeps_the_previous_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "status.json"
    atomic_write_json(target, {"state": "completed"})

    class Interrupted(Exception):
        pass

    with pytest.raises(Interrupted), atomic_open(target) as handle:
        handle.write(b'{"state": "runn')
        raise Interrupted
    assert json.loads(target.read_text()) == {"state": "completed"}
    assert [p.name for p in tmp_path.iterdir()] == ["status.json"]


def test_a_save_that_fails_midway_keeps_the_previous_files(tmp_path, monkeypatch):
    run, model = completed_run(tmp_path)
    before = {name: (run.path / name).read_bytes() for name in (WEIGHTS_FILE, PREDICTIONS_FILE)}

    def disk_full(fd):
        raise OSError("No space left on device")

    monkeypatch.setattr("core.storage.os.fsync", disk_full)
    with pytest.raises(OSError, match="No space"):
        run.save_state_dict({k: v * 0 for k, v in model.state_dict().items()})
    with pytest.raises(OSError, match="No space"):
        run.save_predictions(np.zeros((6, 10)), np.zeros(6, dtype=int), np.arange(6))
    monkeypatch.undo()
    assert {name: (run.path / name).read_bytes() for name in before} == before
    assert not [p for p in run.path.iterdir() if p.name.endswith(".tmp")]
    assert load_run(run.path).load_model() is not None


def test_predictions_the_reader_would_refuse_are_never_written(tmp_path):
    # evaluate with NaN weights (or an ONNX graph of the wrong width) once replaced good predictions with them.
    run, _ = completed_run(tmp_path)
    before = (run.path / PREDICTIONS_FILE).read_bytes()
    labels, indices = np.arange(6), np.arange(6)
    for probs, fragment in [
        (np.full((6, 10), np.nan, dtype=np.float32), "not finite numbers"),
        (np.full((6, 784), 0.1, dtype=np.float32), "wrong shape"),
        (np.full((6, 10), 1, dtype=np.int64), "not finite numbers"),
    ]:
        with pytest.raises(RunError, match=f"the model's test predictions can't be kept \\(the file .*{fragment}"):
            run.save_predictions(probs, labels, indices)
    assert (run.path / PREDICTIONS_FILE).read_bytes() == before


def test_a_status_holding_nan_is_replaced_by_the_next_write_not_carried_into_it(tmp_path):
    run, _ = completed_run(tmp_path)
    (run.path / "status.json").write_text('{"state": "running", "x": NaN}')  # Python's reader takes NaN
    run.write_status("running")  # a heartbeat: it raised ValueError when writing the NaN back
    assert run.status().state == "running" and "x" not in json.loads((run.path / "status.json").read_text())
