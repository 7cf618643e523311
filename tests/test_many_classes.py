"""Every page on datasets beyond MNIST's ten digits: EMNIST balanced's 47 classes and a user's own folder.

Both are made here: EMNIST-shaped synthetic files in its own layout, and a folder of PNGs added with
``data add``; each gets a trained run, and every page renders it without an error or a warning.
"""

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from core.cli import main
from core.synthetic import synthetic_images, write_idx_dataset
from core.train import fit, start_run
from core.userdata import add_dataset
from dashboard.pages import PAGES
from tests.conftest import small_config
from tests.test_app import APP


def png_folder(root, classes=("ant", "bee", "cat", "dog"), train=60, test=15):
    images, labels = synthetic_images(len(classes) * (train + test) * 2, 5, num_classes=len(classes))
    for index, name in enumerate(classes):
        members = np.flatnonzero(labels == index)
        for split, picks in (("train", members[:train]), ("test", members[train : train + test])):
            folder = root / split / name
            folder.mkdir(parents=True)
            for n, pick in enumerate(picks):
                Image.fromarray(images[pick]).save(folder / f"{n}.png")
    return root


@pytest.fixture(scope="module")
def wide_store(tmp_path_factory):
    """EMNIST balanced (47 classes) and a user's folder dataset, each with a trained run."""
    root = tmp_path_factory.mktemp("many")
    data_dir, runs = root / "data", root / "runs"
    write_idx_dataset(data_dir, "emnist-balanced", train_count=4_000, test_count=940, label_noise=0.1)
    add_dataset("pets", png_folder(root / "pictures"), data_dir)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DATA_DIR", str(data_dir))
        for dataset, run_id in (("emnist-balanced", "emnist-run"), ("pets", "pets-run")):
            config = small_config(dataset=dataset, model="fashion-two-conv", epochs=2)
            fit(config, start_run(config, runs, run_id=run_id), data_dir=data_dir)
    return data_dir, runs


def test_the_runs_know_their_classes(wide_store):
    from core.runs import load_run

    _, runs = wide_store
    assert load_run("emnist-run", runs).load_predictions().probs.shape == (940, 47)
    assert load_run("pets-run", runs).config.classes == ("ant", "bee", "cat", "dog")


@pytest.mark.parametrize("dataset, run_id", [("emnist-balanced", "emnist-run"), ("pets", "pets-run")])
@pytest.mark.parametrize("entry", PAGES, ids=lambda entry: entry.file)
def test_every_page_renders_them(wide_store, monkeypatch, entry, dataset, run_id):
    data_dir, runs = wide_store
    monkeypatch.setenv("DATA_DIR", str(data_dir))
    monkeypatch.setenv("CHECKPOINTS_DIR", str(runs))
    at = AppTest.from_file(APP, default_timeout=90)
    at.query_params["dataset"], at.query_params["run"] = dataset, run_id
    at.run()
    at.switch_page(entry.script)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.warning, [w.value for w in at.warning]
    assert at.selectbox(key="dataset").value == dataset and at.selectbox(key="run").value == run_id


def test_the_page_verbs_work_on_them(wide_store, monkeypatch, capsys):
    data_dir, runs = wide_store
    monkeypatch.setenv("DATA_DIR", str(data_dir))
    store = ["--checkpoints", str(runs)]
    for argv in (
        ["dataset", "emnist-balanced"],
        ["dataset", "pets"],
        ["confusion", "emnist-run", *store],
        ["errors", "pets-run", *store],
        ["label-issues", "emnist-run", *store],
    ):
        assert main(argv) == 0, capsys.readouterr().err
    assert "47 classes" in capsys.readouterr().out


def test_a_large_matrix_lists_the_pairs_first_and_zooms(wide_store, monkeypatch):
    data_dir, runs = wide_store
    monkeypatch.setenv("DATA_DIR", str(data_dir))
    monkeypatch.setenv("CHECKPOINTS_DIR", str(runs))
    at = AppTest.from_file(APP, default_timeout=90)
    at.query_params["dataset"], at.query_params["run"] = "emnist-balanced", "emnist-run"
    at.run()
    at.switch_page("app_pages/confusion.py")
    at.run()
    headings = [h.value for h in at.subheader]
    assert headings.index("Most confused") < headings.index("Images of one cell")
    zoom = at.slider(key="confusion_zoom")
    assert zoom.value == 20 and zoom.max == 47
    zoom.set_value(47).run()
    assert not at.exception


def test_confused_classes_are_laid_side_by_side():
    from core.evaluate import confusion_order, most_confused_classes

    matrix = np.diag(np.full(8, 100))
    for a, b in ((0, 5), (2, 7), (3, 6)):
        matrix[a, b], matrix[b, a] = 12, 9
    order = list(confusion_order(matrix))
    for a, b in ((0, 5), (2, 7), (3, 6)):
        assert abs(order.index(a) - order.index(b)) == 1
    assert sorted(order) == list(range(8))
    matrix[0, 5] = 30  # now 0 and 5 have the most errors
    assert list(most_confused_classes(matrix, 2)) == [0, 5]


@pytest.mark.browser
@pytest.mark.parametrize("dataset, run_id", [("emnist-balanced", "emnist-run"), ("pets", "pets-run")])
def test_every_page_in_the_browser(wide_store, dataset, run_id):
    from playwright.sync_api import sync_playwright

    from bench.browser import CHROMIUM, CHROMIUM_ARGS
    from tests.test_browser import require_browser, serve, visit_every_page

    require_browser()
    with serve(*wide_store) as address, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 2400})
        visit_every_page(page, f"{address}/?dataset={dataset}&run={run_id}", dataset)
        browser.close()
