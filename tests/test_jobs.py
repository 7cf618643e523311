"""Training jobs as real child processes on small synthetic data: complete, one at a time, cancel, kill -9."""

import json
import os
import signal
import socket
import sys
import time

import pytest

from core.config import TrainConfig
from core.jobs import LOCK_FILE, JobBusy, active_job, cancel_job, start_job
from core.runs import list_runs, pid_alive
from tests.conftest import small_config


def config(**changes) -> TrainConfig:
    return small_config(**{"epochs": 1, "train_subset": 2_000, **changes})


def wait_for(predicate, timeout=90.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_job_runs_to_completion_in_the_background(store):
    started = time.monotonic()
    job = start_job(config(), store)
    assert time.monotonic() - started < 5, "start_job must return at once"
    assert active_job(store).run_id == job.run_id
    wait_for(lambda: active_job(store) is None, what="the job to finish")
    status = job.run.status()
    assert status.state == "completed", job.run.path.joinpath("train.log").read_text()
    assert status.pid == job.pid
    assert job.run.load_predictions().probs.shape == (200, 10)
    assert not (store / LOCK_FILE).exists()


def test_one_job_at_a_time_and_nothing_left_by_a_refused_click(store):
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    first = start_job(config(), store, command=sleeper)
    with pytest.raises(JobBusy) as busy:
        start_job(config(), store, command=sleeper)
    assert busy.value.job.run_id == first.run_id and first.run_id in str(busy.value)
    assert [s.id for s in list_runs(store)] == [first.run_id]
    os.kill(first.pid, signal.SIGKILL)
    wait_for(lambda: not pid_alive(first.pid), what="the sleeper to die")
    assert active_job(store) is None  # the dead holder's lock is broken


def test_a_child_slow_to_start_is_running_while_it_lives_and_interrupted_once_it_is_gone(store):
    # A child that hasn't beaten after a minute (importing torch on a busy machine): its pid, written by
    # the parent at the start, vouches for it; a sweep's trial would otherwise be failed under it.
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    job = start_job(config(), store, command=sleeper)
    status = json.loads((job.run.path / "status.json").read_text())
    assert status["pid"] == job.pid and "job_token" not in status
    (job.run.path / "status.json").write_text(json.dumps({**status, "heartbeat": time.time() - 90}))
    assert job.run.status().state == "running"
    os.kill(job.pid, signal.SIGKILL)
    wait_for(lambda: not pid_alive(job.pid), what="the sleeper to die")
    assert job.run.status().state == "interrupted"


def test_a_stale_lock_from_a_crashed_process_is_broken(store):
    store.mkdir(parents=True)
    dead = os.fork()
    if dead == 0:
        os._exit(0)
    os.waitpid(dead, 0)
    lock = {
        "run_id": "ghost",
        "run_path": str(store / "ghost"),
        "pid": dead,
        "host": socket.gethostname(),
        "started": time.time(),
    }
    (store / LOCK_FILE).write_text(json.dumps(lock))
    assert active_job(store) is None
    assert not (store / LOCK_FILE).exists()


def test_cancel_stops_the_job_and_keeps_its_best_weights(store):
    job = start_job(config(epochs=200), store)
    wait_for(lambda: len(job.run.history()) >= 1, what="a first epoch")
    assert cancel_job(store).run_id == job.run_id
    wait_for(lambda: active_job(store) is None, what="the job to stop")
    status = job.run.status()
    assert status.state == "cancelled" and "cancelled during epoch" in status.error
    assert job.run.load_model() is not None


def test_a_job_killed_hard_shows_as_interrupted_and_its_weights_load(store):
    job = start_job(config(epochs=200), store)
    wait_for(lambda: (job.run.path / "model.safetensors").exists(), what="a first epoch's weights")
    os.kill(job.pid, signal.SIGKILL)
    wait_for(lambda: not pid_alive(job.pid), what="the child to die")
    status = job.run.status()
    assert status.state == "interrupted"
    assert job.run.load_model() is not None
    assert active_job(store) is None
    [summary] = list_runs(store)
    assert summary.state == "interrupted"
