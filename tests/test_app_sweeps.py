"""The Sweeps page: a sweep's trials, its best run with links, and a sweep started from the page."""

from streamlit.testing.v1 import AppTest

from core.jobqueue import queued_jobs
from core.jobs import active_job
from core.sweeps import create_sweep, sweep_names, sweep_summary, work
from tests.test_app import APP
from tests.test_jobs import wait_for
from tests.test_sweeps import spec


def open_sweeps(store, monkeypatch, query=None):  # noqa: F811
    monkeypatch.setenv("CHECKPOINTS_DIR", str(store))
    at = AppTest.from_file(APP, default_timeout=60)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    at.run()
    return at.switch_page("app_pages/sweeps.py").run()


def test_a_sweep_shows_its_trials_and_its_best_run(store, monkeypatch):  # noqa: F811
    create_sweep(spec(name="shown", trials=3), store)
    work("shown", store)
    at = open_sweeps(store, monkeypatch, {"sweep": "shown"})
    assert not at.exception, [e.value for e in at.exception]
    best = sweep_summary("shown", store).best
    assert any(f"Best: trial {best['number']}" in s.value for s in at.success)
    assert len(at.dataframe[0].value) == 3
    assert [h.value for h in at.subheader][:3] == ["Trials across their values", "What mattered", "Trials"]
    assert any(
        link.label == "Errors" and best["run_id"] in str(link.proto.query_string) for link in at.get("page_link")
    )


def test_a_sweep_with_no_trial_yet_shows_an_empty_table(store, monkeypatch):  # noqa: F811
    create_sweep(spec(name="fresh", trials=3), store)
    at = open_sweeps(store, monkeypatch, {"sweep": "fresh"})
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.dataframe[0].value) == 0 and "best val accuracy" in at.dataframe[0].value.columns


def test_a_sweep_started_from_the_page_runs_through_the_queue(store, monkeypatch):  # noqa: F811
    at = open_sweeps(store, monkeypatch)
    assert any("No sweep yet" in i.value for i in at.info)
    at.text_input[0].input("from-page")
    at.number_input[0].set_value(2)
    at.text_area[0].input("lr=loguniform:0.01:0.2")
    at.number_input[1].set_value(1_200)
    at.button[0].click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert sweep_names(store) == ["from-page"]
    wait_for(lambda: active_job(store) is None and not queued_jobs(store), timeout=240, what="the page's trials")
    trials = sweep_summary("from-page", store).trials
    assert len(trials) == 2 and all(t["run_id"] for t in trials)


def test_a_bad_sweep_is_refused_on_the_page(store, monkeypatch):  # noqa: F811
    at = open_sweeps(store, monkeypatch)
    at.text_input[0].input("bad")
    at.text_area[0].input("colour=choice:1,2")
    at.button[0].click().run()
    assert any("not a training setting" in e.value for e in at.error)
    assert sweep_names(store) == []
