"""What training writes stays bounded and consistent, and a full disk, a kill or a Cancel at the wrong
moment leaves a run that says what happened: no growing files, no lost cause, no lock left behind."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import time

import pytest
from streamlit.testing.v1 import AppTest

import core.batchlosses
import core.storage
from core.batchlosses import BatchLosses
from core.cli import main
from core.data import PROJECT_ROOT
from core.jobs import LOCK_FILE, Job, active_job, cancel_job, start_job
from core.runs import HISTORY_FILE, STATUS_FILE, Run, list_runs, load_run, pid_alive
from core.train import Callback, fit, start_run
from tests.conftest import small_config, write_idx_dataset
from tests.test_jobs import wait_for
from tests.test_runs import completed_run

APP = str(PROJECT_ROOT / "dashboard" / "app.py")


def no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device", "/runs/x/.status.json.abc.tmp")


# --- 3. what training writes is bounded -------------------------------------------------------------


def test_batch_losses_keep_a_bounded_number_of_points_and_the_curve_s_level():
    losses = BatchLosses(cap=10)
    for step in range(1, 1001):
        losses.add(step, 2.0 if step <= 500 else 1.0)
    losses.flush()
    assert 5 <= len(losses.points) <= 10
    assert losses.points[0][1] == pytest.approx(2.0) and losses.points[-1][1] == pytest.approx(1.0)
    assert [x for x, _ in losses.points] == sorted(x for x, _ in losses.points)
    assert losses.points[-1][0] == 1000


def test_a_run_logging_every_batch_writes_a_bounded_history_and_status(synthetic_data, tmp_path, monkeypatch):
    monkeypatch.setattr(core.batchlosses, "MAX_POINTS", 16)
    seen: list[int] = []

    class StatusSize(Callback):
        def on_batch(self, state):
            seen.append(len(run.status().batch_losses))

    config = small_config(epochs=2, batch_size=2, log_every=1)  # 300 batches an epoch, each one logged
    run = start_run(config, tmp_path)
    fit(config, run, data=synthetic_data, callbacks=[StatusSize()])
    history = run.history()
    assert all(8 <= len(record["batch_losses"]) <= 16 for record in history)  # of 300 logged losses each
    assert max(seen) <= 16
    assert history[-1]["batch_losses"][-1][0] == history[-1]["examples_seen"]


def test_training_appends_its_history_instead_of_rewriting_it(synthetic_data, tmp_path):
    inodes: list[int] = []

    class HistoryInode(Callback):
        def on_epoch(self, state, record):
            inodes.append((run.path / HISTORY_FILE).stat().st_ino)

    config = small_config(epochs=3)
    run = start_run(config, tmp_path)
    fit(config, run, data=synthetic_data, callbacks=[HistoryInode()])
    assert len(set(inodes)) == 1, "the history file was replaced, not appended to"
    assert [record["epoch"] for record in run.history()] == [1, 2, 3]


def test_a_last_line_cut_short_by_a_kill_is_left_out(tmp_path):
    run, _ = completed_run(tmp_path)
    with open(run.path / HISTORY_FILE, "a") as history:
        history.write('{"epoch": 3, "val_loss": 0.3, "batch_losses": [[1, 0.')
    assert [record["epoch"] for record in run.history()] == [1, 2]
    assert list_runs(tmp_path)[0].state == "completed"


def test_the_listing_reads_a_run_again_only_when_its_files_change(tmp_path, monkeypatch):
    completed_run(tmp_path, "one")
    completed_run(tmp_path, "two")
    reads: list[str] = []
    history = Run.history
    monkeypatch.setattr(Run, "history", lambda self: reads.append(self.id) or history(self))
    list_runs(tmp_path)
    list_runs(tmp_path)
    assert sorted(reads) == ["one", "two"]
    path = tmp_path / "two" / STATUS_FILE
    path.write_text(json.dumps({**json.loads(path.read_text()), "test_accuracy": 0.5}))
    summaries = {summary.id: summary for summary in list_runs(tmp_path)}
    assert sorted(reads) == ["one", "two", "two"]
    assert summaries["two"].test_accuracy == 0.5


# --- 11. a kill between two writes of an epoch ------------------------------------------------------


def test_the_weights_name_their_epoch_and_win_over_a_status_written_before_them(synthetic_data, tmp_path):
    config = small_config(epochs=3)
    run = start_run(config, tmp_path)
    fit(config, run, data=synthetic_data)
    kept = run.kept_epoch()
    assert run.weights_epoch() == kept
    # A kill right after the weights were replaced, before status.json said so: the status names another epoch.
    other = next(epoch for epoch in (1, 2, 3) if epoch != kept)
    path = run.path / STATUS_FILE
    path.write_text(json.dumps({**json.loads(path.read_text()), "best_epoch": other}))
    assert run.kept_epoch() == kept
    assert list_runs(tmp_path)[0].best_epoch == kept


def test_each_epoch_is_in_the_history_before_its_weights_are_kept(synthetic_data, tmp_path):
    order: list[str] = []
    run = start_run(small_config(epochs=2), tmp_path)
    for name in ("append_history", "save_state_dict", "write_status"):
        method = getattr(Run, name)

        def spy(self, *args, _name=name, _method=method, **kwargs):
            order.append(_name)
            return _method(self, *args, **kwargs)

        setattr(run, name, spy.__get__(run))
    fit(small_config(epochs=2), run, data=synthetic_data)
    first_epoch = order[order.index("append_history") :][:3]
    assert first_epoch == ["append_history", "save_state_dict", "write_status"]


# --- 8. a full or read-only disk --------------------------------------------------------------------


def test_a_disk_that_fills_while_predictions_are_saved_fails_the_run_with_the_cause(
    synthetic_data, tmp_path, monkeypatch
):
    config = small_config(epochs=1)
    run = start_run(config, tmp_path)
    monkeypatch.setattr(Run, "save_predictions", no_space)
    with pytest.raises(OSError):
        fit(config, run, data=synthetic_data)
    status = run.status()
    assert status.state == "failed" and "No space left on device" in status.error


def test_a_full_disk_still_records_why_the_run_ended(tmp_path, monkeypatch):
    run, _ = completed_run(tmp_path)
    run.write_status("running", batch_losses=[[1, 0.5]] * 20)
    monkeypatch.setattr(core.storage.tempfile, "mkstemp", no_space)
    run.write_final_status("failed", error="No space left on device: /runs/x")
    status = run.status()
    assert status.state == "failed" and status.error == "No space left on device: /runs/x"


def test_a_store_that_cant_be_written_is_one_line_on_the_cli(tmp_path, idx_data_dir, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    argv = ["train", "--model", "mlp", "--epochs", "1", "--train-subset", "100", "--threads", "1"]
    code = main([*argv, "--data-dir", str(idx_data_dir), "--checkpoints", str(blocker / "runs")])
    error = capsys.readouterr().err.strip()
    assert code == 1 and error.startswith("error: ") and len(error.splitlines()) == 1, error
    assert "Not a directory" in error


def test_a_full_disk_leaves_no_lock_behind(tmp_path, monkeypatch):
    monkeypatch.setattr(json, "dump", no_space)
    with pytest.raises(OSError):
        start_job(small_config(), tmp_path)
    assert not (tmp_path / LOCK_FILE).exists()
    assert active_job(tmp_path) is None


def test_the_train_button_on_a_full_disk_says_so_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("CHECKPOINTS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "no-data"))
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page("app_pages/train.py")
    at.run()
    monkeypatch.setattr(core.storage.tempfile, "mkstemp", no_space)
    monkeypatch.setattr(os, "open", no_space)
    next(button for button in at.button if button.label == "Train").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("can't be written" in error.value and "No space left" in error.value for error in at.error)


# --- 7. the lock and Cancel -------------------------------------------------------------------------


@pytest.fixture
def store(tmp_path, monkeypatch):
    write_idx_dataset(tmp_path / "data", "mnist", train_count=2_400, test_count=200)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "runs"


def lock_naming(store, pid: int, run_path, token="t0ken") -> None:
    store.mkdir(parents=True, exist_ok=True)
    job = Job("other", str(run_path), pid, os.uname().nodename, time.time(), token)
    (store / LOCK_FILE).write_text(json.dumps(job.__dict__))


def test_a_lock_naming_a_live_unrelated_process_does_not_block_training(store):
    lock_naming(store, os.getpid(), store / "other")  # this test's process lives on, but is not that job
    assert active_job(store) is None
    assert not (store / LOCK_FILE).exists()


def test_cancel_never_signals_another_store_s_job(store, tmp_path):
    # A live "core train" process of another store, under the pid this store's lock names.
    other = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", "core", "train", "--run-dir", str(tmp_path / "b" / "r")]
    )
    try:
        lock_naming(store, other.pid, store / "r")
        assert cancel_job(store) is None
        time.sleep(0.2)
        assert other.poll() is None, "Cancel in this store killed another store's job"
    finally:
        other.kill()
        other.wait()


def test_cancel_in_the_first_moment_ends_the_run_cancelled(store):
    job = start_job(small_config(epochs=50, train_subset=2_000), store)
    assert cancel_job(store).run_id == job.run_id  # before the child has even imported torch
    wait_for(lambda: active_job(store) is None, what="the job to stop")
    status = job.run.status()
    assert status.state == "cancelled", (status, (job.run.path / "train.log").read_text())
    assert not (store / LOCK_FILE).exists()


def test_cancel_once_training_is_under_way_still_stops_it(store):
    job = start_job(small_config(epochs=200, train_subset=2_000), store)
    wait_for(lambda: len(job.run.history()) >= 1, what="a first epoch")
    assert cancel_job(store).run_id == job.run_id
    wait_for(lambda: active_job(store) is None, what="the job to stop")
    assert job.run.status().state == "cancelled"
    wait_for(lambda: not pid_alive(job.pid), timeout=10, what="the child to exit")


# --- 13. one message, wrapped once ------------------------------------------------------------------


def test_damaged_weights_are_reported_once_not_wrapped_twice(tmp_path, capsys):
    run, _ = completed_run(tmp_path)
    (run.path / "model.safetensors").write_bytes(os.urandom(100))
    assert main(["card", "good", "--checkpoints", str(tmp_path)]) == 1
    error = capsys.readouterr().err
    assert error.count("model.safetensors") == 1, error
    assert "does not fit" not in error
    assert load_run("good", tmp_path).status().state == "completed"
