"""Sharing two cores: a page rerun while a job trains, and a job's epoch while someone browses.

Each against its time alone, in the same invocation, alternating. The job is started the way
the train page starts it (core.jobs.start_job, with core.jobs.child_threads); the "browser" is
an AppTest session rerunning the confusion-matrix page once a second, as a person clicking would.
"""

from __future__ import annotations

import statistics
import tempfile
import time

import torch
from streamlit.testing.v1 import AppTest

from core.data import PROJECT_ROOT
from core.jobs import active_job, child_threads, start_job
from core.presets import preset_config
from core.runs import list_runs

APP = str(PROJECT_ROOT / "dashboard" / "app.py")
PAGE = "app_pages/confusion.py"


def page_session(run_id: str, dataset: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["dataset"], at.query_params["run"] = dataset, run_id
    at.run()
    at.switch_page(PAGE)
    at.run()  # fills the caches
    return at


def rerun_ms(at: AppTest) -> float:
    started = time.perf_counter()
    at.run()
    return (time.perf_counter() - started) * 1000


def train_one_epoch(root, browse: AppTest | None) -> tuple[float, list[float]]:
    """Seconds of the job's epoch, and the page reruns measured meanwhile (once a second)."""
    config = preset_config("quick", "mnist", epochs=1, threads=child_threads())
    job = start_job(config, root)
    reruns: list[float] = []
    while active_job(root) is not None:
        if browse is not None:
            reruns.append(rerun_ms(browse))
        time.sleep(1.0)
    history = job.run.history()
    if not history:
        raise RuntimeError(f"the job did not finish an epoch: {job.run.status()}")
    return history[0]["seconds"], reruns


def bench_sharing(pairs: int = 3) -> dict:
    torch.set_num_threads(1)  # as the dashboard does
    shown = next(s for s in list_runs() if s.state == "completed" and s.dataset == "mnist")
    browse = page_session(shown.id, shown.dataset)
    measured, page_alone, page_shared = [], [], []
    with tempfile.TemporaryDirectory() as jobs_root:  # the jobs' runs are thrown away
        for pair in range(pairs):
            page_alone += [rerun_ms(browse) for _ in range(5)]
            epoch_alone, _ = train_one_epoch(jobs_root, browse=None)
            epoch_shared, reruns = train_one_epoch(jobs_root, browse=browse)
            page_shared += reruns
            measured.append((epoch_alone, epoch_shared))
            print(f"sharing pair {pair + 1}: epoch alone {epoch_alone:.1f} s, while browsing {epoch_shared:.1f} s")
    return {
        "job_threads": child_threads(),
        "page_rerun_alone_ms": statistics.median(page_alone),
        "page_rerun_while_training_ms": statistics.median(page_shared),
        "page_ratio": statistics.median(page_shared) / statistics.median(page_alone),
        "epoch_alone_s": statistics.median(a for a, _ in measured),
        "epoch_while_browsing_s": statistics.median(b for _, b in measured),
        "epoch_ratio": statistics.median(b / a for a, b in measured),
        "pairs": [{"alone_s": a, "browsing_s": b} for a, b in measured],
    }
