"""A dataset is one record: add one with three classes and everything works on it, untouched.

The proof of CONTRIBUTING.md's "add a dataset" recipe: a record added to DATASETS (and nothing
else) trains, evaluates, goes through the page verbs of the CLI and renders every page.
"""

import pytest
from streamlit.testing.v1 import AppTest

from core.cli import main
from core.data import DATASETS, DatasetInfo, Preparation, load_dataset
from core.train import fit, start_run
from dashboard.pages import PAGES
from tests.conftest import small_config, write_idx_dataset
from tests.test_app import APP

TOY = DatasetInfo(
    name="toy",
    title="Toy shapes",
    folder="Toy",
    classes=("left", "middle", "right"),
    mean=0.25,
    std=0.3,
    md5={},
    preparation=Preparation(fit_box=24, centre_by_mass=False, noun="shape"),
)


@pytest.fixture(scope="module")
def toy_store(tmp_path_factory):
    """The record in the registry, its IDX files, and a trained run."""
    root = tmp_path_factory.mktemp("toy")
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(DATASETS, "toy", TOY)
        write_idx_dataset(root / "data", "toy", train_count=300, test_count=90, label_noise=0.1)
        config = small_config(dataset="toy", model="fashion-two-conv", epochs=2)
        fit(config, start_run(config, root / "runs", run_id="toy-run"), data_dir=root / "data")
        yield root / "data", root / "runs"


def test_the_record_alone_gives_a_three_class_dataset_and_model(toy_store):
    data_dir, checkpoints = toy_store
    data = load_dataset("toy", data_dir)
    assert int(data.train.labels.max()) == 2
    from core.runs import load_run

    run = load_run("toy-run", checkpoints)
    assert run.config.classes == TOY.classes
    assert run.load_predictions().probs.shape == (90, 3)


def test_the_page_verbs_work_on_it(toy_store, capsys):
    data_dir, checkpoints = toy_store
    store, data = ["--checkpoints", str(checkpoints)], ["--data-dir", str(data_dir)]
    for argv in (
        ["dataset", "toy", *data],
        ["curves", "toy-run", *store],
        ["confusion", "toy-run", *store],
        ["errors", "toy-run", "--include-correct", *store],
    ):
        assert main(argv) == 0, capsys.readouterr().err
    output = capsys.readouterr().out
    assert "Toy shapes: " in output and "left" in output and "right" in output


@pytest.mark.parametrize("entry", PAGES, ids=lambda entry: entry.file)
def test_every_page_renders_it(toy_store, monkeypatch, entry):
    data_dir, checkpoints = toy_store
    monkeypatch.setitem(DATASETS, "toy", TOY)
    monkeypatch.setenv("DATA_DIR", str(data_dir))
    monkeypatch.setenv("CHECKPOINTS_DIR", str(checkpoints))
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["dataset"], at.query_params["run"] = "toy", "toy-run"
    at.run()
    at.switch_page(entry.script)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.warning, [w.value for w in at.warning]
    assert at.selectbox(key="dataset").value == "toy" and at.selectbox(key="run").value == "toy-run"
    if entry.file == "dataset.py":
        assert at.title[0].value == "Dataset · Toy shapes"
