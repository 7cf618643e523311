"""The dashboard as people meet it: `streamlit run` and Debian's Chromium (Playwright).

- cold start: from launching the server to the first page drawn in the browser;
- peak memory of the server process (its VmHWM) after visiting every page;
- five sessions opening the errors page at once while a training job runs: each one's time.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from core.data import PROJECT_ROOT
from core.jobs import active_job, cancel_job, child_threads, start_job
from core.presets import preset_config
from core.runs import list_runs
from dashboard.pages import PAGES

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def server(env: dict[str, str] | None = None):
    """A fresh `streamlit run dashboard/app.py` on a free port, with ``env`` added to this process's
    environment (e.g. DATA_DIR, CHECKPOINTS_DIR); yields (address, process, launch time)."""
    port = free_port()
    launched = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "dashboard/app.py", "--server.port", str(port)]
        + ["--server.headless", "true", "--server.fileWatcherType", "none"],
        cwd=PROJECT_ROOT,
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.perf_counter() - launched > 120:
                    raise RuntimeError("streamlit did not start") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}", process, launched
    finally:
        process.terminate()
        process.wait(timeout=20)


def wait_until_drawn(page, heading: str, timeout_ms: int = 120_000) -> None:
    """Wait until the page's heading is shown and Streamlit has finished running the script."""
    page.get_by_role("heading", name=heading).first.wait_for(timeout=timeout_ms)
    page.wait_for_function("!document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=timeout_ms)


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


GALLERY_TILE = "[data-testid=galleryTile]"  # a gallery's thumbnail (in the component's shadow root)


def cold_start(browser, query: str) -> float:
    """Seconds from launching a fresh server to its first page drawn."""
    with server() as (address, _, launched):
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(f"{address}/{query}")
        wait_until_drawn(page, "Runs")
        seconds = time.perf_counter() - launched
        page.close()
    return seconds


READING_S = 10.0  # a person reading the Train form before clicking


def train_from_the_page(browser, reading_s: float = READING_S, standby: bool = True) -> float:
    """Seconds from clicking Train on the Train page (the quick preset on MNIST, as the form opens) to
    the finished run's test accuracy on screen, in a store of its own, on a fresh server; the click
    comes ``reading_s`` after the page is drawn. ``standby=False``: every job's process starts at the
    click (``LENS_STANDBY=0``), as before the standby."""
    env = {} if standby else {"LENS_STANDBY": "0"}
    with tempfile.TemporaryDirectory() as store, server({**env, "CHECKPOINTS_DIR": store}) as (address, _, _):
        page = browser.new_page(viewport={"width": 1400, "height": 1500})
        page.goto(f"{address}/train?dataset=mnist")
        wait_until_drawn(page, "Train")
        time.sleep(reading_s)
        started = time.perf_counter()
        page.get_by_test_id("stBaseButton-primaryFormSubmit").click()
        page.get_by_text("Test accuracy", exact=False).first.wait_for(timeout=600_000)
        seconds = time.perf_counter() - started
        page.close()
    return seconds


def bench_train_clicks(browser, repeats: int) -> dict:
    """Click Train to the finished run: with the standby after reading the form (the goal's figure), the
    same without the standby (the baseline, alternating), and with it clicked the moment the page is drawn."""
    with_standby, without = [], []
    for _ in range(repeats):
        with_standby.append(train_from_the_page(browser))
        without.append(train_from_the_page(browser, standby=False))
    at_once = [train_from_the_page(browser, reading_s=0) for _ in range(repeats)]
    return {
        "train_click_to_finished_s": statistics.median(with_standby),
        "train_click_without_standby_s": statistics.median(without),
        "train_click_at_once_s": statistics.median(at_once),
        "train_click_runs_s": {"standby": with_standby, "no standby": without, "at once": at_once},
        "train_click_reading_s": READING_S,
    }


def bench_browser(sessions: int = 5, smoke: bool = False) -> dict:
    from playwright.sync_api import sync_playwright

    mnist_run = next(s for s in list_runs() if s.state == "completed" and s.dataset == "mnist")
    query = f"?dataset=mnist&run={mnist_run.id}"
    errors_query = query + "&correct=true"  # a full page of 100 images, whatever the run's error count
    results: dict = {"run": mnist_run.id}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        with server() as (address, process, launched):
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(f"{address}/{query}")
            wait_until_drawn(page, "Runs")
            results["cold_start_s"] = time.perf_counter() - launched
            visits = {}
            for entry in PAGES:
                started = time.perf_counter()
                page.goto(f"{address}/{entry.url_path}{query}")
                wait_until_drawn(page, entry.heading)
                visits[entry.title] = time.perf_counter() - started
            results["first_visit_s"] = visits
            results["peak_memory_mb"] = _peak_rss_mb(process.pid)
            page.close()

            # One person opening the errors page in a new tab, nothing else running: the yardstick.
            alone = browser.new_context().new_page()
            started = time.perf_counter()
            alone.goto(f"{address}/errors{errors_query}", wait_until="commit")
            wait_until_drawn(alone, "Errors")
            alone.locator(GALLERY_TILE).first.wait_for(timeout=120_000)
            results["one_session_alone_s"] = time.perf_counter() - started
            alone.context.close()

            # Five people open the errors page at the same moment while a job trains beside them.
            with tempfile.TemporaryDirectory() as jobs_root:
                job = start_job(preset_config("quick", "mnist", epochs=20, threads=child_threads()), Path(jobs_root))
                while not job.run.status().batch:
                    time.sleep(0.5)  # the job is past its start-up and training
                pages = [browser.new_context().new_page() for _ in range(sessions)]
                started = time.perf_counter()
                for each in pages:
                    each.goto(f"{address}/errors{errors_query}", wait_until="commit")
                times = []
                for each in pages:
                    wait_until_drawn(each, "Errors")
                    each.locator(GALLERY_TILE).first.wait_for(timeout=120_000)
                    times.append(time.perf_counter() - started)
                cancel_job(Path(jobs_root))
                while active_job(Path(jobs_root)) is not None:
                    time.sleep(0.5)
            results["sessions"] = sessions
            results["sessions_all_drawn_s"] = sorted(times)
            results["sessions_slowest_s"] = max(times)
            results["job_threads"] = child_threads()
        # The cold start again on two fresh servers: one start alone swings by a second here.
        results["cold_starts_s"] = [results["cold_start_s"], *(cold_start(browser, query) for _ in range(2))]
        results["cold_start_s"] = statistics.median(results["cold_starts_s"])
        results.update(bench_train_clicks(browser, repeats=1 if smoke else 2))
        browser.close()
    print(
        f"cold start {results['cold_start_s']:.1f} s, peak memory {results['peak_memory_mb']:.0f} MB, "
        f"{sessions} sessions slowest {results['sessions_slowest_s']:.1f} s, "
        f"Train clicked to finished {results['train_click_to_finished_s']:.1f} s"
    )
    return results
