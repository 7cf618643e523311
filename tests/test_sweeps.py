"""Sweeps with Optuna on small synthetic data: trials are runs, two workers share one, a killed one is not lost."""

import os
import signal
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest

from core.config import ConfigError
from core.data import PROJECT_ROOT
from core.runs import list_runs, load_run
from core.sweeps import SweepSpec, create_sweep, load_sweep, safe_url, sweep_summary, work
from tests.test_jobs import wait_for

FAST = {"train_subset": 1_200, "threads": 1, "log_every": 5}


def spec(name="s", trials=4, **changes) -> SweepSpec:
    values = dict(
        name=name,
        dataset="mnist",
        preset="quick",
        params={"lr": "loguniform:0.001:0.3", "epochs": "choice:1,2"},
        trials=trials,
        overrides=FAST,
    )
    return SweepSpec(**{**values, **changes})


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"params": {"colour": "choice:1,2"}}, "not a training setting"),
        ({"params": {"lr": "normal:0:1"}}, "the kind must be one of"),
        ({"params": {"lr": "loguniform:0.5"}}, "--param lr=loguniform:0.5"),
        ({"params": {"lr": "loguniform:0.01:0.1"}, "sampler": "grid"}, "grid needs choice"),
        ({"name": "../up"}, "can't name a sweep"),
        ({"trials": 0}, "trials must be"),
    ],
)
def test_a_sweep_that_cant_run_is_refused_when_created(tmp_path, changes, message):
    with pytest.raises(ConfigError, match=message):
        create_sweep(spec(**changes), tmp_path)


def test_every_trial_is_a_run_and_its_objective_is_the_validation_accuracy(store):  # noqa: F811
    create_sweep(spec(), store)
    with pytest.raises(ConfigError, match="exists already"):
        create_sweep(spec(), store)
    assert work("s", store) == 4
    models = {load_run(t["run_id"], store).config.model for t in sweep_summary("s", store).trials}
    assert models == {spec().base_config().model}
    pinned = load_sweep("s", store)[1].overrides  # whatever the preset and the data make later
    assert pinned["model"] == spec().base_config().model and pinned["epochs"] == spec().base_config().epochs
    summary = sweep_summary("s", store)
    assert len(summary.trials) == 4 and {t["state"] for t in summary.trials} <= {"complete", "pruned"}
    for trial in summary.trials:
        run = load_run(trial["run_id"], store)
        assert run.config.sweep["name"] == "s" and run.config.sweep["trial"] == trial["number"]
        assert run.config.sweep["params"] == trial["params"]
        assert run.config.lr == trial["params"]["lr"] and run.config.train_subset == 1_200
        if trial["state"] == "complete":  # the best validation accuracy, never the test split's
            assert trial["value"] == max(r["val_accuracy"] for r in run.history())
    assert summary.best["value"] == max(t["value"] for t in summary.trials if t["state"] == "complete")
    assert work("s", store) == 0  # the sweep has its count


def test_two_workers_share_a_sweep_and_never_run_the_same_trial(store):  # noqa: F811
    create_sweep(spec(name="pair", trials=6), store)
    env = {**os.environ, "CHECKPOINTS_DIR": str(store)}
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "core", "sweep", "work", "pair"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [worker.communicate(timeout=300)[0] for worker in workers]
    assert all(worker.returncode == 0 for worker in workers), outputs
    ran_by = [sum(line.startswith("pair-trial-") for line in output.splitlines()) for output in outputs]
    assert all(count >= 1 for count in ran_by), outputs  # both did some
    summary = sweep_summary("pair", store)
    numbers = [t["number"] for t in summary.trials]
    assert len(numbers) == len(set(numbers)) >= 6
    runs = [s.id for s in list_runs(store) if s.id.startswith("pair-trial-")]
    assert len(runs) == len(set(runs)) == len(numbers) == sum(ran_by)


def test_a_killed_workers_trial_ends_failed_not_running(store):  # noqa: F811
    create_sweep(
        spec(
            name="crash",
            trials=2,
            overrides={**FAST, "train_subset": 4_000, "epochs": 3},
            params={"lr": "loguniform:0.01:0.1"},
        ),
        store,
    )
    env = {**os.environ, "CHECKPOINTS_DIR": str(store)}
    worker = subprocess.Popen(
        [sys.executable, "-m", "core", "sweep", "work", "crash"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for(
        lambda: any(s.id == "crash-trial-000" and s.epochs_done >= 1 for s in list_runs(store)),
        timeout=120,
        what="the first trial to be training",
    )
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()
    time.sleep(0.5)
    summary = sweep_summary("crash", store)
    assert summary.trials[0]["state"] == "fail"
    assert load_run("crash-trial-000", store).status().state == "interrupted"
    assert work("crash", store) == 2  # a failed trial doesn't count: two more make the sweep's two


def test_a_storage_password_is_never_shown():
    shown = safe_url("postgresql://lens:s3cret-pw@db.example:5432/sweeps")
    assert "s3cret-pw" not in shown and "db.example" in shown


def test_a_sweeps_trials_go_through_the_queue(store):  # noqa: F811
    from core.jobqueue import queued_jobs
    from core.jobs import active_job
    from core.sweeps import queue_trials

    create_sweep(spec(name="queued", trials=3), store)
    assert queue_trials("queued", store) == 3
    wait_for(lambda: active_job(store) is None and not queued_jobs(store), timeout=240, what="the queued trials")
    summary = sweep_summary("queued", store)
    assert [t["number"] for t in summary.trials] == [0, 1, 2]
    assert {t["state"] for t in summary.trials} <= {"complete", "pruned"}
    for trial in summary.trials:  # each a normal run, trained by a job, its values those Optuna drew
        run = load_run(trial["run_id"], store)
        assert run.config.sweep["params"] == trial["params"] and run.status().state in ("completed", "cancelled")


def test_a_damaged_sweep_is_one_line_not_a_traceback(tmp_path, capsys):
    from core.cli import main

    create_sweep(spec(name="damaged"), tmp_path)
    journal = tmp_path / ".sweeps" / "damaged.journal"
    text = journal.read_text().replace('"preset"', '"prest"')  # the spec no longer fits
    journal.write_text(text + "garbage{{{\n")
    assert main(["sweep", "show", "damaged", "--checkpoints", str(tmp_path)]) == 2
    assert "has no readable spec" in capsys.readouterr().err
    (tmp_path / ".sweeps" / "noise.journal").write_text("not json at all\n")
    assert main(["sweep", "show", "noise", "--checkpoints", str(tmp_path)]) == 2


@pytest.mark.parametrize(
    "journal",
    ["[1, 2]\n", '{"op_code": 99, "worker_id": "x"}\n', "\x00\xff\xfe garbage\n", "spec-params"],
    ids=["a list", "an unknown operation", "bytes", "params not text"],
)
def test_a_journal_optuna_cant_replay_is_one_line_on_the_cli_and_the_page(tmp_path, monkeypatch, capsys, journal):
    from streamlit.testing.v1 import AppTest

    from core.cli import main

    path = tmp_path / ".sweeps" / "odd.journal"
    if journal == "spec-params":  # a study Optuna reads, whose spec names a value where a range belongs
        create_sweep(spec(name="odd"), tmp_path)
        path.write_text(path.read_text().replace('"lr":"loguniform:0.001:0.3"', '"lr":5'))
    else:
        path.parent.mkdir(parents=True)
        path.write_bytes(journal.encode("latin-1"))
    assert main(["sweep", "show", "odd", "--checkpoints", str(tmp_path)]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    (path.parent / "gone.journal").symlink_to(tmp_path / "nowhere")  # a dangling link is no sweep
    monkeypatch.setenv("CHECKPOINTS_DIR", str(tmp_path))
    at = AppTest.from_file(str(PROJECT_ROOT / "dashboard" / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("app_pages/sweeps.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="sweep").options == ["odd"]
    assert any("can't be read" in warning.value for warning in at.warning)


def test_a_queued_trial_whose_sweep_is_gone_is_set_aside_and_the_queue_goes_on(store):  # noqa: F811
    from core.jobqueue import enqueue, queued_jobs, start_next
    from core.jobs import active_job

    for _ in range(30):
        enqueue(spec().base_config(), store, sweep="nosuch")
    enqueue(spec().base_config(), store, run_id="after")
    start_next(store)
    wait_for(lambda: active_job(store) is None and not queued_jobs(store), timeout=240, what="the queue")
    assert [s.id for s in list_runs(store)] == ["after"]
    assert len(list((store / ".queue").glob("*.unreadable"))) == 30
    assert not list((store / ".queue").glob("*.starting"))


def test_a_queued_job_that_fails_to_start_is_set_aside_not_hidden(tmp_path, monkeypatch):
    import core.sweeps
    from core.jobqueue import enqueue, queued_jobs, start_next
    from core.jobs import active_job
    from core.runs import RunError

    def broken(lock, *args, **kwargs):
        from core.jobs import release_taken_lock

        release_taken_lock(tmp_path)
        raise RunError("the store can't be read")

    monkeypatch.setattr(core.sweeps, "launch_trial", broken)
    enqueue(spec().base_config(), tmp_path, sweep="s")
    with pytest.raises(RunError):
        start_next(tmp_path)
    assert not queued_jobs(tmp_path) and active_job(tmp_path) is None
    folder = tmp_path / ".queue"
    assert len(list(folder.glob("*.unreadable"))) == 1 and not list(folder.glob("*.starting"))  # named, not hidden


def test_a_trial_is_never_pruned_at_its_last_epoch():

    from core.sweeps import PruneByEpoch
    from core.train import StopEarly

    class Lagging:  # a trial Optuna would prune at every epoch
        def report(self, value, step):
            pass

        def should_prune(self):
            return True

    callback, state = PruneByEpoch(Lagging()), SimpleNamespace(config=SimpleNamespace(epochs=2))
    with pytest.raises(StopEarly):
        callback.on_epoch(state, {"epoch": 1, "val_accuracy": 0.5})
    callback.on_epoch(state, {"epoch": 2, "val_accuracy": 0.5})  # the last: it completes


def test_a_trial_being_started_is_left_running_by_another_workers_reconcile(store, monkeypatch):  # noqa: F811
    from optuna.trial import TrialState

    from core.sweeps import ask_trial, finish_trial, reconcile

    create_sweep(spec(name="race"), store)
    study, sweep = load_sweep("race", store)
    trial, run, _ = ask_trial(study, sweep, store)  # named its run; training hasn't begun
    elsewhere, _ = load_sweep("race", store)  # another worker's view of the same storage
    assert reconcile(elsewhere, store) == 0
    assert elsewhere.get_trials()[0].state == TrialState.RUNNING

    elsewhere.tell(trial.number, state=TrialState.FAIL)  # as if its heartbeat had gone stale meanwhile
    result = SimpleNamespace(state="completed", history=[{"val_accuracy": 0.9}])
    finish_trial(study, trial, run, result)  # left as the other worker told it, no error
    assert study.get_trials()[0].state == TrialState.FAIL

    unnamed = study.ask()  # a worker that died between asking and naming the run
    assert reconcile(study, store) == 0  # young: its worker may still be starting it
    monkeypatch.setattr("core.sweeps.STALE_AFTER_S", -1.0)
    assert reconcile(study, store) == 1
    assert study.get_trials()[unnamed.number].state == TrialState.FAIL


def test_a_trial_whose_worker_wrote_its_end_but_never_told_optuna_is_told_as_its_run_says(store, monkeypatch):  # noqa: F811
    from optuna.trial import TrialState

    from core.cli.train import SweepTrial
    from core.sweeps import PruneByEpoch, ask_trial, reconcile

    create_sweep(spec(name="told"), store)
    study, sweep = load_sweep("told", store)
    ends = {"completed": None, "cancelled": f"{PruneByEpoch.REASON} 1", "failed": "loss became nan"}
    runs = {}
    for state, error in ends.items():
        trial, run, _ = ask_trial(study, sweep, store)
        run.append_history({"epoch": 1, "val_accuracy": 0.5})
        run.append_history({"epoch": 2, "val_accuracy": 0.75})
        run.write_final_status(state, error)
        runs[state] = trial.number
    assert reconcile(study, store) == 0  # just ended: their workers are telling Optuna now
    monkeypatch.setattr("core.sweeps.STALE_AFTER_S", -1.0)  # ... and a minute later they haven't
    assert reconcile(study, store) == 3
    trials = study.get_trials()
    assert trials[runs["completed"]].state == TrialState.COMPLETE and trials[runs["completed"]].value == 0.75
    assert trials[runs["cancelled"]].state == TrialState.PRUNED  # its curve still counts for the pruner
    assert trials[runs["failed"]].state == TrialState.FAIL

    queued = SweepTrial(load_run(f"told-trial-{runs['failed']:03d}", store))  # a queued trial's child, failing late
    queued.failed()  # the trial was told already: no error
