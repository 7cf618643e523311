"""The newcomer's journey in AppTest: the first visit, links that ask for what isn't here, the Train form
following the sidebar. (The galleries' captions and clicks are a component: test_browser.py checks them.)"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from dashboard.sidebar import default_run, link_notice
from tests.test_app import app, open_page
from tests.test_runs import completed_run


@pytest.fixture
def two_runs(tmp_path, monkeypatch):
    """Two completed MNIST runs: the newer one less accurate, so "best" and "newest" differ."""
    for run_id, accuracy, created in (("older-better", 0.99, "2026-01-01"), ("newer-worse", 0.90, "2026-06-01")):
        run, _ = completed_run(tmp_path, run_id)
        run.write_status("completed", test_accuracy=accuracy)
        config = json.loads((run.path / "config.json").read_text())
        (run.path / "config.json").write_text(json.dumps({**config, "created": f"{created}T00:00:00"}))
    monkeypatch.setenv("CHECKPOINTS_DIR", str(tmp_path))
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "no-data"))
    return tmp_path


def table(*rows) -> pd.DataFrame:
    columns = ["id", "dataset", "state", "test_accuracy", "error"]
    return pd.DataFrame([dict(zip(columns, row, strict=True)) for row in rows], columns=columns)


def test_the_best_finished_run_is_chosen_not_the_newest():
    runs = table(
        ("new-running", "mnist", "running", None, None),
        ("new-failed", "mnist", "failed", None, "diverged"),
        ("good", "mnist", "completed", 0.99, None),
        ("older", "mnist", "completed", 0.98, None),
    ).set_index("id")
    assert default_run(runs) == "good"
    assert default_run(runs.drop(index=["good", "older"])) == "new-running"  # nothing finished: the newest


@pytest.mark.parametrize(
    ("dataset", "run", "fragment"),
    [
        ("nope", None, "dataset named “nope”"),
        ("mnist", "does-not-exist", "There is no run “does\\-not\\-exist”"),
        ("mnist", "broken", "can't be opened (status\\.json is missing)"),
        ("mnist", "fashion-run", "is a run of fashion\\-mnist, not mnist"),
    ],
)
def test_a_link_that_asks_for_what_is_not_shown_says_so(dataset, run, fragment):
    runs = table(
        ("good", "mnist", "completed", 0.99, None),
        ("broken", "mnist", "unreadable", None, "status.json is missing"),
        ("fashion-run", "fashion-mnist", "completed", 0.9, None),
    )
    notice = link_notice(dataset, run, "mnist", "good", runs)
    assert fragment in notice and ("showing mnist" in notice if run is None else "showing **good**" in notice)
    assert link_notice("mnist", "good", "mnist", "good", runs) is None


def test_a_link_to_a_missing_run_is_named_on_the_page_and_the_best_run_shown(two_runs):
    at = app({"dataset": "mnist", "run": "does-not-exist"}).run()
    assert not at.exception
    assert any("does\\-not\\-exist" in block.value and "older\\-better" in block.value for block in at.warning)
    assert at.session_state["run"] == "older-better"
    at.run()  # the next click: the notice was said once
    assert not any("does\\-not\\-exist" in block.value for block in at.warning)


def test_the_first_visit_names_the_product_and_three_steps(two_runs):
    at = app().run()
    assert not at.exception
    assert at.title[0].value == "MNIST Lens"
    steps = " ".join(block.value for block in at.markdown)
    assert "1 · Pick a run" in steps and "2 · Which classes" in steps and "3 · Which images" in steps
    assert at.session_state["run"] == "older-better"


def test_the_train_form_trains_the_sidebar_s_dataset(two_runs):
    at = open_page(app({"dataset": "fashion-mnist"}), "train.py")
    assert not at.exception
    assert at.session_state["train_dataset"] == "fashion-mnist"
    assert at.text_input[0].value == "Fashion-MNIST clothing"
    at.sidebar.selectbox[0].select("mnist").run()
    assert at.session_state["train_dataset"] == "mnist"


def test_a_batch_larger_than_the_training_subset_is_refused():
    from core.config import ConfigError
    from tests.conftest import small_config

    with pytest.raises(ConfigError, match="batch_size .* is larger than train_subset"):
        small_config(batch_size=512, train_subset=100).validate()


def test_confidence_is_said_to_be_raw_and_its_ceiling_under_label_smoothing():
    from dashboard.inspect import confidence_note

    assert "raw softmax" in confidence_note(0.0, 10) and "smoothing" not in confidence_note(0.0, 10)
    smoothed = confidence_note(0.1, 10)
    assert "label smoothing 0.1" in smoothed and "about 91%" in smoothed  # 1 − 0.1 + 0.1/10


def test_an_unflagged_label_gives_its_rank_as_a_rank_and_why_it_is_not_flagged():
    from dashboard.inspect import ordinal, unflagged_label_text

    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 101, 111, 1002)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st", "111th", "1,002nd",
    ]  # fmt: skip
    text = unflagged_label_text(4, 10_000, 2, 0.0123)
    assert "label quality is 0.01 of 1" in text and "the 5th lowest of the split's 10,000" in text
    assert text.endswith("cleanlab flags only the 2 it estimates are mislabelled.")
    assert unflagged_label_text(0, 300, 0, 0.5).endswith("cleanlab flags none of them.")
