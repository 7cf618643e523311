"""The standby: a training process started before the click takes the next job (real processes, small data)."""

import json
import os
import signal
import subprocess
import sys

import pytest

from core import standby
from core.jobs import LOCK_FILE, active_job, cancel_job, prepare_standby, start_job
from core.runs import pid_alive
from tests.test_jobs import config, wait_for


@pytest.fixture(autouse=True)
def no_standby_between_tests(monkeypatch):
    monkeypatch.delenv("LENS_STANDBY", raising=False)
    monkeypatch.setattr(standby, "_gave_up", False)
    let_go_and_wait()  # one a page test of this process left
    yield
    let_go_and_wait()


def let_go_and_wait() -> None:
    with standby._lock:
        left = standby._standby
        standby._let_go(left)
    if left is not None:
        left.process.wait(timeout=60)


def waiting_process() -> subprocess.Popen:
    assert standby._standby is not None, "no standby was started"
    return standby._standby.process


def test_the_next_job_is_the_standby_process_and_runs_as_any_job(store):
    prepare_standby(store)
    waiting = waiting_process()
    job = start_job(config(), store)
    assert job.pid == waiting.pid
    assert active_job(store).pid == job.pid  # the lock knows it for the job's process (its token)
    wait_for(lambda: active_job(store) is None, what="the job to finish")
    log = job.run.path.joinpath("train.log").read_text()
    assert job.run.status().state == "completed", log
    assert "completed: best epoch" in log  # its output went to the job's log
    assert job.run.load_predictions().probs.shape == (200, 10)
    assert waiting.wait(timeout=30) == 0
    assert standby._standby is None  # taken: the next page visit starts another


def test_a_standby_job_can_be_cancelled(store):
    prepare_standby(store)
    waiting = waiting_process()
    job = start_job(config(epochs=200), store)
    assert job.pid == waiting.pid
    wait_for(lambda: len(job.run.history()) >= 1, what="a first epoch")
    assert cancel_job(store).run_id == job.run_id
    wait_for(lambda: active_job(store) is None, what="the job to stop")
    assert job.run.status().state == "cancelled"


def test_variables_added_since_reach_the_job_and_changed_ones_get_a_new_process(store, monkeypatch):
    data_dir = os.environ.pop("DATA_DIR")
    prepare_standby(store)
    first = waiting_process()
    monkeypatch.setenv("DATA_DIR", data_dir)  # added since: the standby takes the job and reads it
    job = start_job(config(), store)
    assert job.pid == first.pid
    wait_for(lambda: active_job(store) is None, what="the job to finish")
    assert job.run.load_predictions().probs.shape == (200, 10)  # the small data, not the real MNIST test split

    monkeypatch.setenv("LENS_TEST_SETTING", "before")
    prepare_standby(store)
    second = waiting_process()
    monkeypatch.setenv("LENS_TEST_SETTING", "after")  # changed since: it might have acted at import
    job = start_job(config(), store)
    assert job.pid != second.pid
    assert second.wait(timeout=60) == 0  # let go
    wait_for(lambda: active_job(store) is None, what="the job to finish")
    assert job.run.status().state == "completed"


def test_a_dead_standby_leaves_the_job_its_own_process_and_none_is_started_again(store):
    prepare_standby(store)
    dead = waiting_process()
    dead.send_signal(signal.SIGKILL)
    wait_for(lambda: dead.returncode is not None, what="the reaper to see it die")
    job = start_job(config(), store)
    assert job.pid != dead.pid
    wait_for(lambda: active_job(store) is None, what="the job to finish")
    assert job.run.status().state == "completed"
    prepare_standby(store)
    assert standby._standby is None  # one that dies unused: this machine can't keep one


def test_a_standby_nobody_asks_for_is_let_go(store, monkeypatch):
    monkeypatch.setattr(standby, "IDLE_S", 1.0)
    prepare_standby(store)
    assert waiting_process().wait(timeout=60) == 0
    assert standby._standby is None


def test_a_standby_ends_with_the_process_that_started_it(store, tmp_path):
    script = (
        "import sys; from pathlib import Path; from core import standby; from core.jobs import prepare_standby; "
        "prepare_standby(Path(sys.argv[1])); print(standby._standby.process.pid)"
    )
    done = subprocess.run([sys.executable, "-c", script, str(store)], capture_output=True, text=True, check=True)
    orphan = int(done.stdout)
    wait_for(lambda: not pid_alive(orphan), what="the orphaned standby to end")


def test_the_lock_names_the_standby_before_it_gets_the_job(store, monkeypatch):
    # A standby starts training at once: should it end, or be cancelled, in its first moments, the lock
    # must already name it (its pid and token), or its end can't release the lock and Cancel can't find it.
    from core import jobs

    seen = {}
    real_send = jobs.send

    def send_and_look(waiting, *args):
        seen.update(json.loads((store / LOCK_FILE).read_text()), token_sent=waiting.token, pid_sent=waiting.process.pid)
        return real_send(waiting, *args)

    monkeypatch.setattr(jobs, "send", send_and_look)
    prepare_standby(store)
    job = start_job(config(), store)
    assert (seen["pid"], seen["token"], seen["run_id"]) == (seen["pid_sent"], seen["token_sent"], job.run_id)
    wait_for(lambda: active_job(store) is None, what="the job to finish")
    assert job.run.status().state == "completed"
