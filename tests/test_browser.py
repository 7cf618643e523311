"""End to end in a real browser: Debian's Chromium driven by Playwright against `streamlit run`.

Visits every page through the navigation on both datasets, clicks a confusion-matrix cell,
checks that no Streamlit exception appears, and saves screenshots in tests/screenshots/.
"""

import contextlib
import os
import re
import time
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest

from bench.browser import CHROMIUM, CHROMIUM_ARGS, wait_until_drawn
from bench.browser import server as streamlit_server
from core.data import PROJECT_ROOT
from core.runs import list_runs
from dashboard.pages import PAGES

pytestmark = pytest.mark.browser
SCREENSHOTS = PROJECT_ROOT / "tests" / "screenshots"


def require_browser():
    missing = []
    if not Path(CHROMIUM).exists():
        missing.append(f"{CHROMIUM} (apt-get install chromium)")
    try:
        import playwright  # noqa: F401
    except ImportError:
        missing.append("the playwright package")
    if missing:
        message = "browser test needs " + " and ".join(missing)
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)


@contextlib.contextmanager
def serve(data_dir: Path, checkpoints: Path):
    """`streamlit run dashboard/app.py` on a free port against this store; yields its address."""
    with streamlit_server({"DATA_DIR": str(data_dir), "CHECKPOINTS_DIR": str(checkpoints)}) as (address, _, _):
        yield address


@pytest.fixture(scope="module")
def server(trained_store):
    require_browser()
    with serve(*trained_store) as address:
        yield address


@pytest.fixture(scope="module")
def browser():
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


def wait_for_page(page, title: str) -> None:
    wait_until_drawn(page, title, timeout_ms=60_000)
    page.wait_for_timeout(1_000)  # let charts and tables finish drawing


def visit_every_page(page, start: str, prefix: str) -> None:
    """Open ``start``, then every page through the navigation: no exception, a screenshot each, and no request
    leaves this machine (a dashboard used offline must not wait on one); closes the tab."""
    SCREENSHOTS.mkdir(exist_ok=True)
    hosts = set()
    page.on("request", lambda request: hosts.add(urlparse(request.url).hostname))
    page.goto(start)
    wait_for_page(page, "Runs")
    for entry in PAGES:
        page.get_by_test_id("stSidebarNav").get_by_text(entry.title, exact=True).click()
        wait_for_page(page, entry.heading)
        assert page.get_by_test_id("stException").count() == 0, f"exception on {entry.title}"
        page.screenshot(path=str(SCREENSHOTS / f"{prefix}-{entry.url_path or 'runs'}.png"), full_page=True)
    page.close()
    assert hosts - {"127.0.0.1", "localhost", None} == set()  # data: URLs have no host


@pytest.mark.parametrize("dataset", ["mnist", "fashion-mnist"])
def test_every_page_through_the_navigation(server, browser, dataset):
    # Tall, because Streamlit scrolls inside its own container: a full-page screenshot stops at the viewport.
    page = browser.new_page(viewport={"width": 1400, "height": 2400})
    visit_every_page(page, f"{server}/?dataset={dataset}&run={dataset}-tiny", dataset)


def test_drawing_a_digit_on_the_canvas_classifies_it(server, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1200})
    page.goto(f"{server}/draw?dataset=mnist&run=mnist-tiny")
    wait_for_page(page, "Draw or upload")
    canvas = page.locator("canvas").last
    canvas.wait_for(timeout=30_000)
    box = canvas.bounding_box()
    x, top = box["x"] + box["width"] / 2, box["y"] + box["height"] * 0.2
    page.mouse.move(x, top)
    page.mouse.down()
    for step in range(1, 21):  # a vertical stroke: a "1"
        page.mouse.move(x + step * 0.5, top + step * box["height"] * 0.03)
    page.mouse.up()
    page.get_by_text("What the model sees").wait_for(timeout=30_000)
    wait_for_page(page, "Draw or upload")
    assert page.get_by_text("from the drawing", exact=False).count() == 1
    assert page.get_by_test_id("stException").count() == 0
    page.screenshot(path=str(SCREENSHOTS / "mnist-draw-drawn.png"), full_page=True)
    page.close()


def test_uploading_an_image_and_a_bad_file(server, browser, tmp_path):
    from PIL import Image

    picture = Image.new("RGB", (90, 120), "white")
    picture.paste((0, 0, 0), (40, 20, 52, 100))
    picture.save(tmp_path / "one.png")
    (tmp_path / "fake.png").write_bytes(b"this is not a picture")
    page = browser.new_page(viewport={"width": 1400, "height": 1200})
    page.goto(f"{server}/draw?dataset=mnist&run=mnist-tiny")
    wait_for_page(page, "Draw or upload")
    page.get_by_role("tab", name="Upload").click()
    page.locator("input[type=file]").set_input_files(str(tmp_path / "one.png"))
    page.get_by_text("from the upload one.png", exact=False).wait_for(timeout=30_000)
    page.screenshot(path=str(SCREENSHOTS / "mnist-draw-uploaded.png"), full_page=True)
    page.locator("input[type=file]").set_input_files(str(tmp_path / "fake.png"))
    page.get_by_text("not an image in an accepted format", exact=False).wait_for(timeout=30_000)
    assert page.get_by_test_id("stException").count() == 0
    page.close()


def test_several_uploads_are_a_gallery_least_confident_first_with_a_csv(server, browser, tmp_path):
    from tests.test_predict_many import write_pictures

    write_pictures(tmp_path, count=5)
    files = sorted(str(path) for path in tmp_path.glob("*.png"))  # five pictures and broken.png
    page = browser.new_page(viewport={"width": 1400, "height": 1600})
    page.goto(f"{server}/draw?dataset=mnist&run=mnist-tiny")
    wait_for_page(page, "Draw or upload")
    page.get_by_role("tab", name="Upload").click()
    page.locator("input[type=file]").set_input_files(files)
    page.get_by_text("5 pictures", exact=False).wait_for(timeout=30_000)
    wait_for_page(page, "Draw or upload")
    tiles = page.locator("[data-testid=galleryTile]")
    tiles.first.wait_for(timeout=30_000)
    assert tiles.count() == 5
    assert page.get_by_text("broken.png", exact=False).count() >= 1  # skipped, and said so
    with page.expect_download() as download:
        page.get_by_role("button", name="Download the predictions (CSV)").click()
    lines = Path(download.value.path()).read_text().splitlines()
    assert lines[0].startswith("file,predicted,confidence") and len(lines) == 6
    assert page.get_by_test_id("stException").count() == 0
    page.screenshot(path=str(SCREENSHOTS / "mnist-draw-many.png"), full_page=True)
    page.close()


def test_dragging_a_rectangle_on_the_embedding_map_shows_its_images(server, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1600})
    page.goto(f"{server}/embedding?dataset=mnist&run=mnist-tiny")
    wait_for_page(page, "Embedding map")
    chart = page.get_by_test_id("stVegaLiteChart").first
    box = chart.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.1, box["y"] + box["height"] * 0.1)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.9, box["y"] + box["height"] * 0.9, steps=10)
    page.mouse.up()
    page.get_by_text("Selected:", exact=False).wait_for(timeout=30_000)
    wait_for_page(page, "Embedding map")
    assert page.get_by_test_id("stException").count() == 0
    page.screenshot(path=str(SCREENSHOTS / "mnist-embedding-selected.png"), full_page=True)
    page.close()


def selected_pair(page) -> tuple[str, str]:
    """The values of the page's (true, predicted) pair pickers."""
    return tuple(page.get_by_role("combobox", name=label).input_value() for label in ("True class", "Predicted as"))


def test_clicking_a_confusion_cell_shows_its_images(server, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(f"{server}/confusion?dataset=fashion-mnist&run=fashion-mnist-tiny")
    wait_for_page(page, "Confusion matrix")
    assert selected_pair(page) != ("Pullover", "Coat"), "the click must change the pair"
    # Vega draws the heatmap as SVG; each cell's aria-label names its pair.
    cell = page.get_by_test_id("stVegaLiteChart").locator(
        "g.mark-rect path[aria-label*='true: Pullover;'][aria-label*='predicted: Coat;']"
    )
    cell.first.click()
    page.wait_for_timeout(500)
    wait_for_page(page, "Confusion matrix")
    assert page.get_by_test_id("stException").count() == 0
    assert selected_pair(page) == ("Pullover", "Coat")
    page.screenshot(path=str(SCREENSHOTS / "fashion-mnist-confusion-clicked.png"), full_page=True)
    page.close()


def gallery_tiles(page):
    """The gallery's thumbnails: Playwright's CSS selectors pierce the component's shadow root."""
    tiles = page.locator("[data-testid=galleryTile]")
    tiles.first.wait_for(timeout=30_000)
    return tiles


def test_gallery_captions_are_text_and_a_click_opens_the_image(server, browser):
    from core.data import DATASETS

    page = browser.new_page(viewport={"width": 1400, "height": 500})
    page.goto(f"{server}/errors?dataset=fashion-mnist&run=fashion-mnist-tiny")
    wait_for_page(page, "Errors")
    tiles = gallery_tiles(page)
    assert page.get_by_role("heading", name="The first image").bounding_box()["y"] > 500  # out of sight
    first = tiles.first
    truth, guess, index = (first.locator(f"span.{name}").inner_text() for name in ("truth", "guess", "index"))
    classes = DATASETS["fashion-mnist"].classes
    assert truth in classes and index.startswith("#")
    assert re.fullmatch(r"✗ \d{1,3}% (.+)", guess) and guess.split(" ", 2)[2] in classes, guess
    clicked = tiles.nth(1)
    clicked_index = clicked.locator("span.index").inner_text().lstrip("#")
    clicked.click()
    page.get_by_role("heading", name="The image you clicked").wait_for(timeout=30_000)
    wait_for_page(page, "Errors")
    assert f"image={clicked_index}" in page.url
    assert "selected" in gallery_tiles(page).nth(1).get_attribute("class")
    assert page.get_by_text(f"Test image #{clicked_index}", exact=False).count() == 1
    assert page.get_by_test_id("stException").count() == 0
    page.wait_for_timeout(1_000)  # the smooth scroll
    assert 0 <= page.get_by_role("heading", name="The image you clicked").bounding_box()["y"] < 500  # brought into view
    page.screenshot(path=str(SCREENSHOTS / "fashion-mnist-errors-clicked.png"), full_page=True)
    page.get_by_role("heading", name="Errors").scroll_into_view_if_needed()
    page.get_by_text("Large", exact=True).click()  # a rerun that is not a click on an image leaves the page be
    page.wait_for_timeout(2_000)
    assert page.get_by_role("heading", name="Errors").bounding_box()["y"] < 500
    page.close()


def test_a_link_reopens_a_confusion_cell_and_its_selected_image(server, browser, trained_store):
    from core.data import DATASETS
    from core.runs import load_run

    predictions = load_run("fashion-mnist-tiny", trained_store[1]).load_predictions()
    classes = DATASETS["fashion-mnist"].classes
    wrong = predictions.predicted != predictions.labels
    row = int(np.flatnonzero(wrong)[0])
    true_name, predicted_name = classes[predictions.labels[row]], classes[predictions.predicted[row]]
    index = int(predictions.indices[row])
    page = browser.new_page(viewport={"width": 1400, "height": 1600})
    query = f"dataset=fashion-mnist&run=fashion-mnist-tiny&cell_true={true_name}&cell_predicted={predicted_name}"
    page.goto(f"{server}/confusion?{query}&image={index}")
    wait_for_page(page, "Confusion matrix")
    assert selected_pair(page) == (true_name, predicted_name)
    tiles = gallery_tiles(page)
    in_cell = (predictions.labels == predictions.labels[row]) & (predictions.predicted == predictions.predicted[row])
    assert tiles.count() == min(int(in_cell.sum()), 96)
    assert {tiles.nth(i).locator("span.truth").inner_text() for i in range(tiles.count())} == {true_name}
    selected = page.locator("[data-testid=galleryTile].selected")
    assert selected.locator("span.index").inner_text() == f"#{index}"
    assert page.get_by_role("heading", name="The image you clicked").count() == 1
    page.close()


def test_links_that_ask_for_what_is_not_here_say_so(server, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    for url, said in (
        ("errors?dataset=mnist&run=does-not-exist", "There is no run “does-not-exist”"),
        ("curves?dataset=fashion-mnist&run=mnist-tiny", "“mnist-tiny” is a run of mnist, not fashion-mnist"),
        ("?dataset=nope", "dataset named “nope”"),
    ):
        page.goto(f"{server}/{url}")
        page.get_by_text(said, exact=False).wait_for(timeout=60_000)
    page.close()


def sidebar_width(page) -> float:
    return page.get_by_test_id("stSidebar").evaluate("sidebar => sidebar.getBoundingClientRect().width")


def test_a_narrow_window_starts_with_the_sidebar_folded_and_keeps_the_readers_choice(server, browser):
    wide = browser.new_page(viewport={"width": 1400, "height": 900})
    wide.goto(f"{server}/errors?dataset=mnist")
    wait_for_page(wide, "Errors")
    assert sidebar_width(wide) > 200
    wide.close()
    narrow = browser.new_page(viewport={"width": 800, "height": 900})
    narrow.goto(f"{server}/errors?dataset=mnist")
    wait_for_page(narrow, "Errors")
    narrow.wait_for_function("() => document.querySelector('[data-testid=\"stSidebar\"]').offsetWidth === 0")
    narrow.get_by_test_id("stExpandSidebarButton").click()  # opened again by the reader: it stays open
    narrow.get_by_test_id("stSidebarNav").get_by_text("Runs", exact=True).click()
    wait_for_page(narrow, "Runs")
    assert sidebar_width(narrow) > 200
    narrow.close()


def test_where_the_sidebar_covers_the_page_picking_a_page_folds_it(server, browser):
    phone = browser.new_page(viewport={"width": 420, "height": 900})
    phone.goto(f"{server}/?dataset=mnist")
    wait_for_page(phone, "Runs")
    folded = "() => document.querySelector('[data-testid=\"stSidebar\"]').offsetWidth === 0"
    phone.wait_for_function(folded)
    phone.get_by_test_id("stExpandSidebarButton").click()
    phone.wait_for_function("() => document.querySelector('[data-testid=\"stSidebar\"]').offsetWidth > 200")
    phone.get_by_test_id("stSidebarNav").get_by_text("Confusion matrix", exact=True).click()
    wait_for_page(phone, "Confusion matrix")
    phone.wait_for_function(folded, timeout=30_000)
    phone.close()


def test_the_first_visit_and_the_train_form_follow_the_sidebar(server, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(server)
    wait_for_page(page, "Runs")
    assert page.get_by_role("heading", name="MNIST Lens").count() == 1
    assert page.get_by_text("1 · Pick a run").count() == 1
    page.get_by_test_id("stSidebarNav").get_by_text("Train", exact=True).click()
    wait_for_page(page, "Train")
    page.get_by_test_id("stSidebar").get_by_role("combobox", name="Dataset").click()
    page.get_by_role("option", name="fashion-mnist").click()
    wait_for_page(page, "Train")
    assert page.get_by_role("textbox", name="Dataset").input_value() == "Fashion-MNIST clothing"
    page.close()


def test_train_one_epoch_from_the_form(browser, tmp_path):
    from tests.conftest import write_idx_dataset

    data_dir, checkpoints = tmp_path / "data", tmp_path / "runs"
    write_idx_dataset(data_dir, "mnist", train_count=2_400, test_count=200)
    with serve(data_dir, checkpoints) as address:
        page = browser.new_page(viewport={"width": 1400, "height": 1500})
        page.goto(f"{address}/train")
        wait_for_page(page, "Train")
        page.get_by_role("spinbutton", name="Train subset").fill("2000")
        page.get_by_role("spinbutton", name="Epochs").fill("1")
        page.screenshot(path=str(SCREENSHOTS / "train-1-form.png"), full_page=True)
        page.get_by_test_id("stBaseButton-primaryFormSubmit").click()
        page.get_by_test_id("stProgress").first.wait_for(timeout=30_000)
        page.screenshot(path=str(SCREENSHOTS / "train-2-running.png"), full_page=True)
        page.get_by_text("Test accuracy", exact=False).first.wait_for(timeout=120_000)
        wait_for_page(page, "Train")
        page.screenshot(path=str(SCREENSHOTS / "train-3-completed.png"), full_page=True)
        assert page.get_by_test_id("stException").count() == 0
        page.get_by_test_id("stSidebarNav").get_by_text("Runs", exact=True).click()
        wait_for_page(page, "Runs")
        page.get_by_text("1 runs in", exact=False).wait_for(timeout=30_000)
        page.screenshot(path=str(SCREENSHOTS / "train-4-runs.png"), full_page=True)
        page.close()


def test_five_sessions_get_the_errors_page_while_a_job_trains(browser, tmp_path, monkeypatch):
    from core.jobs import active_job, cancel_job, start_job
    from core.train import fit, start_run
    from tests.conftest import small_config, write_idx_dataset

    data_dir, checkpoints = tmp_path / "data", tmp_path / "runs"
    write_idx_dataset(data_dir, "mnist", train_count=2_400, test_count=200, label_noise=0.15)
    shown = small_config(epochs=1)
    fit(shown, start_run(shown, checkpoints, run_id="shown"), data_dir=data_dir)
    with serve(data_dir, checkpoints) as address:
        monkeypatch.setenv("DATA_DIR", str(data_dir))  # the job's child reads the same data
        job = start_job(small_config(epochs=500, train_subset=2_000), checkpoints)
        pages = [browser.new_context().new_page() for _ in range(5)]
        try:
            started = time.monotonic()
            for page in pages:
                page.goto(f"{address}/errors?dataset=mnist&run=shown", wait_until="commit")
            for page in pages:
                wait_for_page(page, "Errors")
                page.get_by_test_id("stImage").first.wait_for(timeout=60_000)
                assert page.get_by_test_id("stException").count() == 0
            print(f"five sessions drawn within {time.monotonic() - started:.1f} s")
            assert job.run.status().state == "running", "the job trained all along"
        finally:
            cancel_job(checkpoints)
            while active_job(checkpoints) is not None:
                time.sleep(0.2)
            for page in pages:
                page.context.close()


def test_every_page_shows_an_imported_model_whose_code_is_gone(browser, tmp_path):
    """A user's own class imported (it runs once, here), its file deleted, then every page in a real browser."""
    from core.external import import_model
    from tests.conftest import write_idx_dataset
    from tests.test_external import USER_CODE

    data_dir, checkpoints = tmp_path / "data", tmp_path / "runs"
    write_idx_dataset(data_dir, "mnist", train_count=400, test_count=100, label_noise=0.15)
    code = tmp_path / "user_model.py"
    code.write_text(USER_CODE)
    namespace: dict = {}
    exec(compile(USER_CODE, str(code), "exec"), namespace)  # the user's class, to save its weights
    torch = namespace["torch"]
    torch.save(namespace["TinyNet"]().state_dict(), tmp_path / "mnist_cnn.pt")
    import_model(
        "mnist", tmp_path / "mnist_cnn.pt", code=f"{code}:TinyNet", run_id="imported", checkpoints=checkpoints,
        data_dir=data_dir,
    )  # fmt: skip
    code.unlink()
    with serve(data_dir, checkpoints) as address:
        page = browser.new_page(viewport={"width": 1400, "height": 2400})
        visit_every_page(page, f"{address}/?dataset=mnist&run=imported", "imported")


def test_every_page_beside_a_store_of_damaged_runs(browser, damaged_store):
    """Every damaged run of the reliability tests beside a good one: the good one opens, no page fails."""
    with serve(*damaged_store) as address:
        page = browser.new_page(viewport={"width": 1400, "height": 2400})
        visit_every_page(page, f"{address}/?dataset=mnist", "damaged")


def test_an_upload_that_is_not_torchs_is_named_as_uploaded(browser, trained_store, tmp_path):
    data_dir, _ = trained_store
    (tmp_path / "mnist_cnn.pt").write_bytes(bytes(range(7, 256)) * 16)  # not a file torch.save writes
    with serve(data_dir, tmp_path / "runs") as address:
        page = browser.new_page(viewport={"width": 1400, "height": 1200})
        page.goto(f"{address}/import_model?dataset=mnist")
        wait_for_page(page, "Import a model")
        page.locator("input[type=file]").set_input_files(str(tmp_path / "mnist_cnn.pt"))
        page.get_by_test_id("stFileUploader").get_by_text("mnist_cnn.pt", exact=True).wait_for(timeout=30_000)
        page.get_by_role("button", name="Import").click()
        page.get_by_text("Not imported: mnist_cnn.pt is not a file torch.save wrote", exact=False).wait_for(
            timeout=60_000
        )
        assert list_runs(tmp_path / "runs") == [] and page.get_by_test_id("stException").count() == 0
        page.close()


def test_importing_the_tutorials_weights_finds_their_architecture_and_shows_the_run(browser, trained_store, tmp_path):
    import torch

    from core.models import create_model

    data_dir, _ = trained_store
    torch.save(create_model("pytorch-examples-mnist").state_dict(), tmp_path / "mnist_cnn.pt")  # as main.py saves
    with serve(data_dir, tmp_path / "runs") as address:
        page = browser.new_page(viewport={"width": 1400, "height": 1200})
        page.goto(f"{address}/import_model?dataset=mnist")
        wait_for_page(page, "Import a model")
        page.locator("input[type=file]").set_input_files(str(tmp_path / "mnist_cnn.pt"))
        uploaded = page.get_by_test_id("stFileUploader").get_by_text("mnist_cnn.pt", exact=True)
        uploaded.wait_for(timeout=30_000)
        page.get_by_role("button", name="Import").click()  # the architecture left at "the one the weights fit"
        page.get_by_text("a pytorch-examples-mnist: test accuracy", exact=False).wait_for(timeout=120_000)
        assert len(list_runs(tmp_path / "runs")) == 1
        sidebar = page.get_by_test_id("stSidebar")  # it shows the new run (its caption: model · state)
        sidebar.get_by_text("pytorch-examples-mnist · completed", exact=False).wait_for(timeout=30_000)
        # The uploader is empty again, once the rerun that follows the import has drawn the form.
        uploaded.wait_for(state="detached", timeout=30_000)
        page.get_by_role("button", name="Import").click()  # a second click imports nothing twice
        page.get_by_text("Choose a weights file first", exact=False).wait_for(timeout=30_000)
        assert len(list_runs(tmp_path / "runs")) == 1
        assert page.get_by_test_id("stException").count() == 0
        page.close()
