"""Page timings of the dashboard, measured with Streamlit's AppTest on the runs in the store.

    .venv/bin/python -m bench.dashboard [--run RUN] [--repeats 7]

For each page: the first run in a fresh session (caches filled by earlier pages of the same
process, as on a server that is already up), and the median of cached reruns. Writes
results/bench-dashboard.json and .md.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import torch
from streamlit.testing.v1 import AppTest

from core.data import PROJECT_ROOT
from core.runs import list_runs
from core.storage import atomic_write_json, atomic_write_text

APP = str(PROJECT_ROOT / "dashboard" / "app.py")
PAGES = {
    "Runs": "runs.py",
    "Dataset": "dataset.py",
    "Training curves": "curves.py",
    "Confusion matrix": "confusion.py",
    "Errors (100 images)": "errors.py",
    "Train": "train.py",
}
GOALS_MS = {"rerun": 300, "Errors (100 images)": 500}


def time_page(run_id: str, dataset: str, page: str, repeats: int) -> tuple[float, float]:
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["dataset"], at.query_params["run"] = dataset, run_id
    at.run()
    at.switch_page(f"app_pages/{page}")
    started = time.perf_counter()
    at.run()
    first = time.perf_counter() - started
    if at.exception:
        raise RuntimeError(f"{page} raised: {at.exception[0].value}")
    if page == "errors.py":  # every prediction, so that a full page of 100 images is drawn
        at.toggle(key="errors_correct").set_value(True).run()
    reruns = []
    for _ in range(repeats):
        started = time.perf_counter()
        at.run()
        reruns.append(time.perf_counter() - started)
    return first * 1000, statistics.median(reruns) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", help="run id (default: the newest completed run of each dataset)")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    torch.set_num_threads(1)  # as the dashboard does
    completed = [s for s in list_runs() if s.state == "completed"]
    chosen = [s for s in completed if s.id == args.run] if args.run else []
    if not chosen:
        seen = set()
        chosen = [s for s in completed if not (s.dataset in seen or seen.add(s.dataset))]
    rows = []
    for summary in chosen:
        for title, page in PAGES.items():
            first_ms, rerun_ms = time_page(summary.id, summary.dataset, page, args.repeats)
            rows.append({"run": summary.id, "page": title, "first_ms": first_ms, "rerun_ms": rerun_ms})
            print(f"{summary.id:24} {title:22} first {first_ms:7.0f} ms   cached rerun {rerun_ms:6.0f} ms")
    machine = f"{platform.machine()}, {torch.get_num_threads()} torch thread, Python {platform.python_version()}"
    results = PROJECT_ROOT / "results"
    atomic_write_json(results / "bench-dashboard.json", {"machine": machine, "rows": rows})
    lines = [
        "# Dashboard page timings",
        "",
        f"`python -m bench.dashboard` on {machine}, {time.strftime('%Y-%m-%d')}: script time per page in",
        "Streamlit's AppTest (no browser). Goals: a cached rerun ≤ 300 ms; the errors page with 100",
        "images ≤ 500 ms.",
        "",
        "| run | page | first visit (ms) | cached rerun (ms, median) |",
        "| --- | --- | ---: | ---: |",
        *[f"| {r['run']} | {r['page']} | {r['first_ms']:.0f} | {r['rerun_ms']:.0f} |" for r in rows],
    ]
    atomic_write_text(results / "bench-dashboard.md", "\n".join(lines) + "\n")
    print(json.dumps({"written": str(results / "bench-dashboard.md")}))


if __name__ == "__main__":
    main()
