"""Every dashboard page through Streamlit's AppTest, against a small store the tests make."""

import json
import os
import shutil
import signal

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core.data import PROJECT_ROOT
from core.runs import list_runs
from dashboard.pages import PAGES as ALL_PAGES
from tests.test_runs import completed_run

APP = str(PROJECT_ROOT / "dashboard" / "app.py")
# Every page but Train (tested on its own, with jobs).
PAGES = [entry.file for entry in ALL_PAGES if entry.file != "train.py"]


def test_the_page_table_names_every_page_file_once():
    files = sorted(path.name for path in (PROJECT_ROOT / "dashboard" / "app_pages").glob("*.py"))
    assert sorted(entry.file for entry in ALL_PAGES) == files
    assert len({entry.title for entry in ALL_PAGES}) == len(ALL_PAGES)


@pytest.fixture
def empty_store(tmp_path, monkeypatch):
    monkeypatch.setenv("CHECKPOINTS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "no-data"))
    return tmp_path / "runs"


@pytest.fixture
def store(trained_store, monkeypatch):
    data_dir, checkpoints = trained_store
    monkeypatch.setenv("DATA_DIR", str(data_dir))
    monkeypatch.setenv("CHECKPOINTS_DIR", str(checkpoints))
    return checkpoints


def app(query: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    return at


def open_page(at: AppTest, page: str) -> AppTest:
    at.run()
    at.switch_page(f"app_pages/{page}")
    return at.run()


@pytest.mark.parametrize("page", ["errors.py", "confusion.py", "model_card.py", "train.py"])
def test_an_empty_store_says_what_to_do_next_on_each_page(empty_store, page):
    at = open_page(app(), page)
    assert not at.exception
    said = " ".join(block.value for block in [*at.info, *at.warning])
    if page == "train.py":  # the form is there, and says the data must come first
        assert "python -m core data fetch --dataset mnist" in said
    else:
        assert "No run of mnist to show yet" in said and "python -m core train --dataset mnist" in said


def test_empty_store_says_how_to_fetch_and_train(empty_store):
    at = app().run()
    assert not at.exception
    text = " ".join(block.value for block in at.info)
    assert "python -m core data fetch" in text and "python -m core train" in text


@pytest.mark.parametrize("page", PAGES)
def test_every_page_helps_when_there_is_nothing_yet(empty_store, page):
    at = open_page(app(), page)
    assert not at.exception
    assert at.info, "an empty page should say what to do"


def test_a_broken_run_is_listed_with_its_reason(empty_store):
    completed_run(empty_store, "good-run")
    broken, _ = completed_run(empty_store, "broken-run")
    (broken.path / "config.json").write_text("{oops")
    at = app().run()
    assert not at.exception
    rows = at.dataframe[0].value.set_index("id")
    assert rows.loc["good-run", "state"] == "completed"
    assert rows.loc["good-run", "test_accuracy"] == pytest.approx(100 * 5 / 6)  # shown in percent
    assert rows.loc["broken-run", "state"] == "unreadable"
    assert "config.json is not valid JSON" in rows.loc["broken-run", "error"]
    assert list(rows.columns[:3]) == ["state", "test_accuracy", "best_val_accuracy"]  # seen in a narrow window


def test_a_long_run_id_is_whole_under_the_sidebars_box(empty_store):
    completed_run(empty_store, "20261125-081006-mnist-pytorch-examples-mnist")  # as an import names it
    completed_run(empty_store, "short")
    at = app({"run": "20261125-081006-mnist-pytorch-examples-mnist"}).run()
    captions = [caption.value.replace("\\", "") for caption in at.sidebar.caption]
    assert any(c.startswith("20261125-081006-mnist-pytorch-examples-mnist: ") for c in captions), captions
    at = app({"run": "short"}).run()
    assert not any(caption.value.startswith("short") for caption in at.sidebar.caption)


def test_a_run_scoring_close_to_guessing_says_so_in_the_runs_table(empty_store):
    run, _ = completed_run(empty_store, "guessing")
    status = json.loads((run.path / "status.json").read_text())
    (run.path / "status.json").write_text(json.dumps({**status, "test_accuracy": 0.107}))
    rows = app().run().dataframe[0].value.set_index("id")
    assert rows.loc["guessing", "error"].startswith("close to guessing (10% for 10 classes)")


@pytest.mark.parametrize("dataset", ["mnist", "fashion-mnist"])
@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_a_trained_run(store, dataset, page):
    at = open_page(app({"dataset": dataset, "run": f"{dataset}-tiny"}), page)
    assert not at.exception
    assert not at.warning
    assert at.sidebar.selectbox[0].value == dataset
    assert at.sidebar.selectbox[1].value == f"{dataset}-tiny"


def test_dataset_page_shows_class_names_and_reshuffles(store):
    at = open_page(app({"dataset": "fashion-mnist"}), "dataset.py")
    assert "Pullover" in [block.value.strip("*") for block in at.markdown]
    at.button[0].click().run()
    assert not at.exception and at.session_state["dataset_samples_seed"] == 1


def test_curves_page_offers_the_history_as_csv(store):
    at = open_page(app({"dataset": "mnist", "run": "mnist-tiny"}), "curves.py")
    history = at.dataframe[0].value
    assert history["epoch"].tolist() == [1, 2]
    assert set(history["run"]) == {"mnist-tiny"}


def test_the_curves_of_a_users_own_loop_show_while_it_runs(trained_store, tmp_path, monkeypatch):
    import core

    data_dir, checkpoints = trained_store
    store = tmp_path / "runs"
    shutil.copytree(checkpoints / "mnist-tiny", store / "mnist-tiny")
    monkeypatch.setenv("DATA_DIR", str(data_dir))
    monkeypatch.setenv("CHECKPOINTS_DIR", str(store))
    with core.log_run(dataset="mnist", name="my-loop", checkpoints=store, data_dir=data_dir) as run:
        at = open_page(app({"dataset": "mnist", "run": "my-loop"}), "curves.py")
        assert not at.exception
        assert "my-loop is training and has no finished epoch yet" in " ".join(block.value for block in at.info)
        run.log_epoch(1, val_loss=0.5, val_accuracy=0.8)
        at = open_page(app({"dataset": "mnist", "run": "my-loop"}), "curves.py")
        assert set(at.dataframe[0].value["run"]) == {"my-loop"}
        assert not [block.value for block in at.info if "no finished epoch" in block.value]


@pytest.mark.parametrize("axis, field", [("examples seen", "examples_seen"), ("training time", "elapsed")])
def test_the_curves_can_be_drawn_against_examples_or_time(store, axis, field):
    import json

    import pyarrow.ipc

    from core.runs import Run

    at = open_page(app({"dataset": "mnist", "run": "mnist-tiny"}), "curves.py")
    at.segmented_control(key="curves_x").set_value(axis).run()
    at.toggle(key="curves_epoch_log").set_value(True).run()
    assert not at.exception
    chart = at.get("vega_lite_chart")[0].proto
    layers = json.loads(chart.spec)["layer"]
    assert layers[0]["encoding"]["x"]["field"] == field and layers[0]["encoding"]["y"]["scale"]["type"] == "log"
    history = Run(store / "mnist-tiny").history()
    expected = [r["examples_seen"] for r in history] if field == "examples_seen" else [
        sum(r["seconds"] for r in history[: i + 1]) for i in range(len(history))
    ]  # fmt: skip
    frames = [pyarrow.ipc.open_stream(named.data.data).read_all().to_pandas() for named in chart.datasets]
    drawn = sorted(set(next(frame for frame in frames if "split" in frame)[field]))
    assert drawn == pytest.approx(sorted(expected))


def test_confusion_pair_picker_shows_exactly_that_pairs_images(store):
    [run_summary] = [s for s in list_runs(store) if s.id == "fashion-mnist-tiny"]
    at = open_page(app({"dataset": "fashion-mnist", "run": "fashion-mnist-tiny"}), "confusion.py")
    per_class = next(frame.value for frame in at.dataframe if "precision" in frame.value.columns)
    assert per_class["support"].sum() == 200  # the test split of the synthetic dataset
    assert per_class["class"].tolist()[2] == "Pullover"

    from core.runs import Run

    predictions = Run(store / run_summary.id).load_predictions()
    predicted = predictions.predicted
    at.selectbox(key="cell_true").select("Pullover").run()
    at.selectbox(key="cell_predicted").select("Pullover").run()
    assert not at.exception
    expected = np.flatnonzero((predictions.labels == 2) & (predicted == 2))
    details = next(frame.value for frame in at.dataframe if "test index" in frame.value.columns)
    assert sorted(details["test index"].tolist()) == sorted(predictions.indices[expected].tolist()[:96])
    confidences = details["confidence"].to_numpy()
    assert (np.diff(confidences) <= 0).all()


def test_errors_page_shows_exactly_the_filtered_images_in_order(store):
    from core.evaluate import select_predictions
    from core.runs import Run

    predictions = Run(store / "fashion-mnist-tiny").load_predictions()
    at = open_page(app({"dataset": "fashion-mnist", "run": "fashion-mnist-tiny"}), "errors.py")
    at.toggle(key="correct").set_value(True).run()
    at.selectbox(key="true").select("Pullover").run()
    at.selectbox(key="sort").select("true_probability").run()
    assert not at.exception
    expected = select_predictions(
        predictions.probs, predictions.labels, true_class=2, include_correct=True, sort="true_probability"
    )[:50]
    details = at.dataframe[-1].value
    assert details["test index"].tolist() == predictions.indices[expected].tolist()
    assert set(details["true"]) == {"Pullover"}


def test_the_errors_page_turns_from_under_the_gallery(store):
    from core.evaluate import select_predictions
    from core.runs import Run

    predictions = Run(store / "mnist-tiny").load_predictions()
    at = open_page(app({"dataset": "mnist", "run": "mnist-tiny"}), "errors.py")
    at.toggle(key="correct").set_value(True).run()  # every test image: more than one page of 100
    assert at.button(key="errors_page_back").disabled and not at.button(key="errors_page_forward").disabled
    at.button(key="errors_page_forward").click().run()
    assert not at.exception and at.number_input(key="page").value == 2
    expected = select_predictions(predictions.probs, predictions.labels, include_correct=True)[100:200]
    assert at.dataframe[-1].value["test index"].tolist() == predictions.indices[expected].tolist()
    assert at.button(key="errors_page_forward").disabled == (len(predictions.labels) <= 200)
    at.button(key="errors_page_back").click().run()
    assert at.number_input(key="page").value == 1


@pytest.fixture
def train_store(tmp_path, monkeypatch):
    from tests.conftest import write_idx_dataset

    data_dir = tmp_path / "data"
    write_idx_dataset(data_dir, "mnist", train_count=2_400, test_count=200)
    monkeypatch.setenv("DATA_DIR", str(data_dir))
    monkeypatch.setenv("CHECKPOINTS_DIR", str(tmp_path / "runs"))
    return tmp_path / "runs"


def test_train_form_refuses_bad_values(train_store):
    at = open_page(app(), "train.py")
    assert not at.exception
    at.number_input(key="train_lr").set_value(0.0)
    train_button(at).click().run()
    assert any("lr must be a number greater than 0" in block.value for block in at.error)
    assert list_runs(train_store) == []


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("train_epochs", 0, "epochs must be"),
        ("train_batch_size", 2_201, "larger than the 2,200 training images"),  # 2,400 less 1 in 12 held out
        ("train_subset", -5, "must be a whole number from 1 to 60,000"),
    ],
)
def test_an_out_of_range_value_is_refused_in_words_beside_the_button(train_store, field, value, message):
    at = open_page(app(), "train.py")
    at.number_input(key=field).set_value(value)
    train_button(at).click().run()
    errors = [block.value for block in at.error]
    assert any(message in text for text in errors), errors
    assert list_runs(train_store) == []


def test_a_preset_fills_the_form(train_store):
    at = open_page(app(), "train.py")
    # quick: at least 430 batches; 2,200 training images are 18 batches of 128, so 24 epochs, and why
    assert at.number_input(key="train_epochs").value == 24
    assert "at least 430 batches" in at.number_input(key="train_epochs").help
    at.selectbox(key="train_preset").select("pytorch-example").run()
    assert not at.number_input(key="train_epochs").help
    assert at.selectbox(key="train_model").value == "pytorch-example"
    assert at.number_input(key="train_lr").value == pytest.approx(0.01)
    assert at.number_input(key="train_epochs").value == 3


def train_button(at, label: str = "Train"):
    return next(button for button in at.button if button.label == label)


def test_train_page_reattaches_to_a_running_job_and_queues_a_second(train_store):
    import sys

    from core.jobs import start_job
    from core.presets import preset_config

    job = start_job(
        preset_config("quick", "mnist"), train_store, command=[sys.executable, "-c", "import time; time.sleep(60)"]
    )
    try:
        at = open_page(app(), "train.py")
        assert any(job.run_id in block.value.replace("\\", "") and "running" in block.value for block in at.subheader)
        assert any("this one will be queued, 1 ahead" in c.value for c in at.caption)
        at.text_input(key="train_run_name").input("second")
        train_button(at, "Queue").click().run()
        assert not at.exception and not at.error
        assert [s.id for s in list_runs(train_store)] == [job.run_id]  # not started: waiting
        assert any("Queue · 1 waiting" in block.value for block in at.subheader)
        assert any("second" in block.value for block in at.markdown)
        at.button(key=next(b.key for b in at.button if b.key and b.key.startswith("queue_close_"))).click().run()
        from core.jobqueue import queued_jobs

        assert queued_jobs(train_store) == []
    finally:
        os.kill(job.pid, signal.SIGKILL)  # a sleeper, not a training job: cancel_job would not signal it


def test_a_short_run_from_the_page_completes_and_links_to_its_results(train_store):
    import time

    at = open_page(app(), "train.py")
    at.number_input(key="train_subset").set_value(2_000)
    at.text_input(key="train_run_name").input("my-first-run")
    train_button(at).click().run()
    assert not at.exception and not at.error
    second = open_page(app(), "train.py")  # a second tab meanwhile: its button queues behind the job
    assert train_button(second, "Queue")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        at.run()
        if any("completed" in block.value for block in at.subheader):
            break
        time.sleep(0.5)
    [summary] = list_runs(train_store)
    assert summary.state == "completed" and summary.preset == "quick" and summary.id == "my-first-run"
    from core.runs import Run

    stored = Run(train_store / summary.id).config  # the preset's values the form doesn't show are kept
    assert (stored.momentum, stored.nesterov, stored.label_smoothing) == (0.9, True, 0.1)
    assert stored.train_subset == 2_000
    assert any("Test accuracy" in block.value for block in at.success)


def test_a_link_opens_the_run_it_names_rather_than_the_best_one(trained_store, tmp_path, monkeypatch):
    data_dir, checkpoints = trained_store
    runs = tmp_path / "runs"
    for name in ("mnist-tiny", "mnist-worse"):
        shutil.copytree(checkpoints / "mnist-tiny", runs / name)
    status_file = runs / "mnist-worse" / "status.json"
    status = json.loads(status_file.read_text())
    status["test_accuracy"] /= 2  # the sidebar's default is the best run: the link must win over it
    status_file.write_text(json.dumps(status))
    monkeypatch.setenv("DATA_DIR", str(data_dir))
    monkeypatch.setenv("CHECKPOINTS_DIR", str(runs))
    linked = app({"dataset": "mnist", "run": "mnist-worse"}).run()
    assert linked.sidebar.selectbox[1].value == "mnist-worse" and not linked.warning
    # The URL leaves out the first option: it must be the run a link without one opens.
    assert linked.sidebar.selectbox[1].options[0] == "mnist-tiny"
    assert app({"dataset": "mnist"}).run().sidebar.selectbox[1].value == "mnist-tiny"
