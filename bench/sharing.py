"""Sharing two cores: a page rerun while a job trains, and a job's epoch while someone browses.

    .venv/bin/python -m bench.sharing

Each against its time alone, in the same invocation. The job is started the way the train
page starts it (core.jobs.start_job: every core but one for torch); the "browser" is an
AppTest session rerunning the confusion-matrix page once a second, as a person clicking would.
Writes results/bench-sharing.json and .md.
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
from core.storage import atomic_write_json, atomic_write_text

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


def main() -> None:
    torch.set_num_threads(1)  # as the dashboard does
    shown = next(s for s in list_runs() if s.state == "completed" and s.dataset == "mnist")
    browse = page_session(shown.id, shown.dataset)
    alone_reruns = [rerun_ms(browse) for _ in range(15)]
    with tempfile.TemporaryDirectory() as jobs_root:  # the jobs' runs are thrown away
        epoch_alone, _ = train_one_epoch(jobs_root, browse=None)
        epoch_shared, shared_reruns = train_one_epoch(jobs_root, browse=browse)
    rows = {
        "page_rerun_alone_ms": statistics.median(alone_reruns),
        "page_rerun_while_training_ms": statistics.median(shared_reruns),
        "epoch_alone_s": epoch_alone,
        "epoch_while_browsing_s": epoch_shared,
        "job_threads": child_threads(),
    }
    rows["page_ratio"] = rows["page_rerun_while_training_ms"] / rows["page_rerun_alone_ms"]
    rows["epoch_ratio"] = rows["epoch_while_browsing_s"] / rows["epoch_alone_s"]
    print(rows)
    results = PROJECT_ROOT / "results"
    atomic_write_json(results / "bench-sharing.json", rows)
    atomic_write_text(
        results / "bench-sharing.md",
        "\n".join(
            [
                "# Sharing two cores",
                "",
                f"`python -m bench.sharing`, {time.strftime('%Y-%m-%d')}: the quick preset's MNIST epoch as a job "
                f"({rows['job_threads']} torch thread), the confusion-matrix page rerun by one session once a second.",
                "",
                "| measure | alone | together | ratio |",
                "| --- | ---: | ---: | ---: |",
                f"| cached page rerun (median) | {rows['page_rerun_alone_ms']:.0f} ms | "
                f"{rows['page_rerun_while_training_ms']:.0f} ms | {rows['page_ratio']:.2f}× |",
                f"| training epoch | {rows['epoch_alone_s']:.1f} s | {rows['epoch_while_browsing_s']:.1f} s | "
                f"{rows['epoch_ratio']:.2f}× |",
                "",
            ]
        ),
    )


if __name__ == "__main__":
    main()
