"""The training queue: on disk, in order, shared by every process; five submissions all complete in order."""

import json
import os
import signal
import sys

from core.jobqueue import QUEUE_FOLDER, enqueue, move_queued, queued_jobs, remove_queued, start_next, submit
from core.jobs import active_job
from core.runs import list_runs, pid_alive
from tests.test_jobs import config, wait_for


def test_jobs_wait_in_order_and_can_be_moved_or_removed(tmp_path):
    entries = [enqueue(config(seed=seed), tmp_path) for seed in range(4)]
    assert [e.config.seed for e in queued_jobs(tmp_path)] == [0, 1, 2, 3]
    assert move_queued(tmp_path, entries[2].id, -1)
    assert [e.config.seed for e in queued_jobs(tmp_path)] == [0, 2, 1, 3]
    assert not move_queued(tmp_path, entries[0].id, -1)  # already first
    assert remove_queued(tmp_path, entries[1].id)
    assert not remove_queued(tmp_path, entries[1].id)
    assert [e.config.seed for e in queued_jobs(tmp_path)] == [0, 2, 3]
    assert move_queued(tmp_path, entries[0].id, +2)
    assert [e.config.seed for e in queued_jobs(tmp_path)] == [2, 3, 0]


def test_the_queue_lives_on_disk_and_a_damaged_entry_is_set_aside(tmp_path):
    enqueue(config(seed=1), tmp_path, run_id="named")
    folder = tmp_path / QUEUE_FOLDER
    (folder / "00000000000000000001-bad.json").write_text('{"config": {"epochs": -3}}')
    (folder / "00000000000000000002-odd.json").write_text("[1, 2")
    linked = json.dumps({"config": {**config(seed=2).to_dict(), "preset": "![x](http://127.0.0.1:9/x.png)"}})
    (folder / "00000000000000000003-linked.json").write_text(linked)  # its preset is shown on the Train page
    waiting = queued_jobs(tmp_path)  # what any other process reading the folder sees
    assert [(e.config.seed, e.run_id) for e in waiting] == [(1, "named")]
    assert sorted(p.name for p in folder.glob("*.unreadable")) == [
        "00000000000000000001-bad.unreadable",
        "00000000000000000002-odd.unreadable",
        "00000000000000000003-linked.unreadable",
    ]


def test_a_bad_job_is_refused_when_queued_not_when_it_runs(tmp_path):
    import pytest

    from core.config import ConfigError

    with pytest.raises(ConfigError):
        enqueue(config(epochs=0), tmp_path)
    assert queued_jobs(tmp_path) == []


def test_five_submissions_all_complete_in_order(store):  # noqa: F811
    results = [submit(config(seed=seed), store, run_id=f"job-{seed}") for seed in range(5)]
    started, ahead = zip(*results, strict=True)
    assert started[0] is not None and started[1:] == (None,) * 4
    assert list(ahead) == [0, 1, 2, 3, 4]
    wait_for(lambda: active_job(store) is None and not queued_jobs(store), timeout=240, what="all five jobs")
    runs = {s.id: s for s in list_runs(store)}
    assert sorted(runs) == [f"job-{seed}" for seed in range(5)]
    assert all(runs[f"job-{seed}"].state == "completed" for seed in range(5))
    starts = [load_started(store / f"job-{seed}") for seed in range(5)]
    assert starts == sorted(starts), "the jobs ran in the order they were queued"


def load_started(run_path) -> str:
    from core.runs import Run

    return Run(run_path).status().started


def test_a_queue_whose_job_was_killed_hard_goes_on_when_anyone_looks(store):  # noqa: F811
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    first, _ = submit(config(), store, command=sleeper)
    _, ahead = submit(config(seed=9), store, run_id="after-the-crash")
    assert ahead == 1
    os.kill(first.pid, signal.SIGKILL)
    wait_for(lambda: not pid_alive(first.pid), what="the killed job to die")
    following = start_next(store)  # what the Train page does each second
    assert following is not None and following.run_id == "after-the-crash"
    wait_for(lambda: active_job(store) is None, timeout=120, what="the next job")
    assert queued_jobs(store) == []


def test_the_queue_verb_adds_lists_moves_and_removes(store, capsys):  # noqa: F811
    import json

    from core.cli import main

    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    first, _ = submit(config(), store, command=sleeper)
    try:
        common = ["--checkpoints", str(store)]
        for name in ("a", "b"):
            assert main(["queue", "add", "--preset", "quick", "--epochs", "1", "--run-id", name, *common]) == 0
        assert capsys.readouterr().out.splitlines() == ["queued, 1 ahead", "queued, 2 ahead"]
        assert main(["queue", "list", "--json", *common]) == 0
        listed = json.loads(capsys.readouterr().out)
        assert listed["training"] == first.run_id and [w["run_id"] for w in listed["waiting"]] == ["a", "b"]
        second = listed["waiting"][1]["id"]
        assert main(["queue", "move", second, "--by", "-1", *common]) == 0
        assert [e.run_id for e in queued_jobs(store)] == ["b", "a"]
        assert main(["queue", "remove", second, *common]) == 0
        assert main(["queue", "remove", second, *common]) == 2
        assert [e.run_id for e in queued_jobs(store)] == ["a"]
        capsys.readouterr()
        for argv in (["queue", *common], ["queue", *common, "list"], ["queue", "--json", *common]):  # before list
            assert main(argv) == 0
            assert first.run_id in capsys.readouterr().out, argv
    finally:
        remove_queued(store, queued_jobs(store)[0].id)
        os.kill(first.pid, signal.SIGKILL)


def test_five_clicks_on_the_train_page_queue_five_jobs_that_complete_in_order(store, monkeypatch):  # noqa: F811
    from streamlit.testing.v1 import AppTest

    from tests.test_app import APP

    monkeypatch.setenv("CHECKPOINTS_DIR", str(store))
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page("app_pages/train.py").run()
    at.number_input(key="train_subset").set_value(1_000)
    at.number_input(key="train_epochs").set_value(1)
    for click in range(5):
        at.text_input(key="train_run_name").input(f"click-{click}")
        button = next(b for b in at.button if b.label in ("Train", "Queue"))
        assert button.label == ("Train" if click == 0 else "Queue") or active_job(store) is None
        button.click().run()
        assert not at.exception and not at.error, [e.value for e in at.error]
    wait_for(lambda: active_job(store) is None and not queued_jobs(store), timeout=300, what="five jobs")
    runs = {s.id: s for s in list_runs(store)}
    assert sorted(runs) == [f"click-{n}" for n in range(5)] and all(s.state == "completed" for s in runs.values())
    starts = [load_started(store / f"click-{n}") for n in range(5)]
    assert starts == sorted(starts)
