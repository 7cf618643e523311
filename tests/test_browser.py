"""End to end in a real browser: Debian's Chromium driven by Playwright against `streamlit run`.

Visits every page through the navigation on both datasets, clicks a confusion-matrix cell,
checks that no Streamlit exception appears, and saves screenshots in tests/screenshots/.
"""

import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.data import PROJECT_ROOT
from tests.test_app import PAGES

pytestmark = pytest.mark.browser
CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = PROJECT_ROOT / "tests" / "screenshots"
PAGE_TITLES = {
    "runs.py": "Runs",
    "dataset.py": "Dataset",
    "curves.py": "Training curves",
    "confusion.py": "Confusion matrix",
    "errors.py": "Errors",
}


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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def serve(data_dir: Path, checkpoints: Path):
    """`streamlit run dashboard/app.py` on a free port against this store; yields its address."""
    port = free_port()
    env = {**os.environ, "DATA_DIR": str(data_dir), "CHECKPOINTS_DIR": str(checkpoints)}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "dashboard/app.py",
            "--server.port",
            str(port),
            "--server.headless",
            "true",
            "--server.fileWatcherType",
            "none",
        ],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("streamlit did not start within 60 s")
                time.sleep(0.3)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


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
        instance = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield instance
        instance.close()


def wait_for_page(page, title: str) -> None:
    page.get_by_role("heading", name=title).first.wait_for(timeout=60_000)
    # Streamlit shows a status widget while the script runs.
    page.wait_for_function("!document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=60_000)
    page.wait_for_timeout(1_000)  # let charts and tables finish drawing


@pytest.mark.parametrize("dataset", ["mnist", "fashion-mnist"])
def test_every_page_through_the_navigation(server, browser, dataset):
    SCREENSHOTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(f"{server}/?dataset={dataset}&run={dataset}-tiny")
    wait_for_page(page, "Runs")
    for page_file in PAGES:
        title = PAGE_TITLES[page_file]
        page.get_by_test_id("stSidebarNav").get_by_text(title, exact=True).click()
        wait_for_page(page, title if page_file != "dataset.py" else "Dataset ·")
        assert page.get_by_test_id("stException").count() == 0, f"exception on {title}"
        page.screenshot(path=str(SCREENSHOTS / f"{dataset}-{page_file[:-3]}.png"), full_page=True)
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
