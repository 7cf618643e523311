"""Page timings of the dashboard, measured with Streamlit's AppTest on the runs in the store.

For each page: the first run in a fresh session (caches filled by earlier pages of the same
process, as on a server that is already up), and the median of cached reruns.
"""

from __future__ import annotations

import importlib
import statistics
import time

import torch
from streamlit.testing.v1 import AppTest

from core.data import PROJECT_ROOT
from core.runs import list_runs
from dashboard.pages import PAGES, PageEntry
from dashboard.warmup import BACKGROUND_IMPORTS

APP = str(PROJECT_ROOT / "dashboard" / "app.py")


def time_page(run_id: str, dataset: str, entry: PageEntry, repeats: int) -> tuple[float, float]:
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["dataset"], at.query_params["run"] = dataset, run_id
    at.run()
    at.switch_page(entry.script)
    started = time.perf_counter()
    at.run()
    first = time.perf_counter() - started
    if at.exception:
        raise RuntimeError(f"{entry.file} raised: {at.exception[0].value}")
    if entry.file == "errors.py":  # every prediction, so that a full page of 100 images is drawn
        at.toggle(key="correct").set_value(True).run()
    reruns = []
    for _ in range(repeats):
        started = time.perf_counter()
        at.run()
        reruns.append(time.perf_counter() - started)
    return first * 1000, statistics.median(reruns) * 1000


def bench_pages(repeats: int = 7) -> list[dict]:
    """First visit and cached rerun of every page, for the newest completed run of each dataset."""
    torch.set_num_threads(1)  # as the dashboard does
    # As on a server that is already up: its background imports done (dashboard.warmup), so that the
    # first page timed doesn't wait for them.
    for name in BACKGROUND_IMPORTS:
        importlib.import_module(name)
    seen: set[str] = set()
    chosen = [s for s in list_runs() if s.state == "completed" and not (s.dataset in seen or seen.add(s.dataset))]
    rows = []
    for summary in chosen:
        for entry in PAGES:
            title = f"{entry.title} (100 images)" if entry.file == "errors.py" else entry.title
            first_ms, rerun_ms = time_page(summary.id, summary.dataset, entry, repeats)
            rows.append({"run": summary.id, "page": title, "first_ms": first_ms, "rerun_ms": rerun_ms})
            print(f"{summary.id:24} {title:22} first {first_ms:7.0f} ms   cached rerun {rerun_ms:6.0f} ms")
    return rows
