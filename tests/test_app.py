"""The dashboard through Streamlit's AppTest (no browser)."""

import pytest
from streamlit.testing.v1 import AppTest

from core.data import PROJECT_ROOT
from tests.test_runs import completed_run

APP = str(PROJECT_ROOT / "dashboard" / "app.py")


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("CHECKPOINTS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "runs"


def test_empty_store_says_how_to_fetch_and_train(store):
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    text = " ".join(block.value for block in at.info)
    assert "python -m core data fetch" in text
    assert "python -m core train" in text


def test_runs_are_listed_with_their_state_and_a_broken_one_with_its_reason(store):
    completed_run(store, "good-run")
    broken, _ = completed_run(store, "broken-run")
    (broken.path / "config.json").write_text("{oops")
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    table = at.dataframe[0].value
    rows = table.set_index("id")
    assert rows.loc["good-run", "state"] == "completed"
    assert rows.loc["good-run", "test_accuracy"] == pytest.approx(5 / 6)
    assert rows.loc["broken-run", "state"] == "unreadable"
    assert "config.json is not valid JSON" in rows.loc["broken-run", "error"]
