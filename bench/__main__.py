"""The benchmark: ``python -m bench`` (or ``make bench``) → results/bench.json and results/bench.md.

    python -m bench                       # every section (about 25 minutes on 2 cores)
    python -m bench --only engine,pages   # some sections; the others keep their last results
    python -m bench --pairs 5
    python -m bench --smoke               # every section on tiny synthetic data, a minute or two (CI)

Sections: ``commands`` (whole commands as a user waits for them: ``import core.train``, the quick
preset from start to exit on each dataset with its accuracy over seeds, ``evaluate`` of the strong
run), ``engine`` (one epoch against the tutorials' pipeline), ``accuracy`` (time to a test
accuracy, the quick preset against the tutorial recipe), ``inference`` (test-set predictions per
second of every stored run), ``pages`` (AppTest page timings), ``browser`` (cold start, server
memory, five sessions at once while a job trains) and ``sharing`` (a job's epoch while someone
browses). Comparisons alternate their two sides ``--pairs`` times and report the median ratio.
Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import torch

from core.data import PROJECT_ROOT
from core.evidence import cpu_text, environment, epochs_text
from core.presets import PRESETS, preset_config
from core.storage import atomic_write_json, atomic_write_text

RESULTS = PROJECT_ROOT / "results"
DATASETS_TIMED = ("mnist", "fashion-mnist")
SECTIONS = ("commands", "engine", "accuracy", "inference", "pages", "browser", "sharing", "gpu")


def machine() -> dict:
    """Where the figures were measured: the commit, the CPU, the versions (core.evidence), and a short name."""
    try:  # a GPU machine may hold only what core needs
        import streamlit
    except ImportError:
        streamlit = None
    return {
        **environment(),
        "device": torch.cuda.get_device_name() if torch.cuda.is_available() else f"CPU ({platform.machine()})",
        "torch": torch.__version__,
        "streamlit": streamlit.__version__ if streamlit else None,
    }


def run_section(name: str, pairs: int, smoke: bool = False):
    # Each section imports only its own module: a GPU machine may lack the dashboard's packages.
    if name == "commands":
        from bench import commands

        return commands.bench_commands(pairs, smoke=smoke)
    if name in ("engine", "accuracy", "inference"):
        from bench import training

        if name == "engine":
            return training.bench_engine(pairs)
        return training.bench_time_to_accuracy(pairs) if name == "accuracy" else training.bench_inference()
    if name == "pages":
        from bench import dashboard

        return dashboard.bench_pages(repeats=1 if smoke else 7)
    if name == "browser":
        from bench import browser

        return browser.bench_browser(smoke=smoke)
    if name == "gpu":
        from bench import gpu

        return gpu.bench_gpu(smoke=smoke)
    from bench import sharing

    return sharing.bench_sharing(pairs)


def _s(value, digits=1) -> str:
    return "not reached" if value is None else f"{value:.{digits}f} s"


def _x(value) -> str:
    return "–" if value is None else f"{value:.2f}×"


def _goal(goal: str, met: bool) -> str:
    """A goal with its status, as the table shows it."""
    return f"{goal}: {'**met**' if met else 'not met'}"


def markdown(results: dict) -> str:
    """The README's table: every figure with its goal and whether it is met."""
    m = results["machine"]
    lines = [
        "# Benchmark",
        "",
        f"`python -m bench` on {cpu_text(m) if 'cpu' in m else m['device']}, {m['cores']} cores; Python {m['python']}, "
        f"torch {m['torch']}, Streamlit {m['streamlit']}; {m['date']}, commit {m.get('commit', 'unknown')}. "
        "Ratios are medians over alternating pairs.",
        "",
        "| what | baseline | ours | ratio | goal |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    lines += command_rows(results.get("commands"))
    lines += training_rows(results.get("engine"), results.get("accuracy"), results.get("inference"))
    lines += dashboard_rows(results.get("pages"), results.get("browser"), results.get("sharing"))
    lines += gpu_lines(results.get("gpu"))
    if pages := results.get("pages"):
        lines += ["", "Page timings (AppTest script time, ms):", "", "| run | page | first visit | cached rerun |"]
        lines.append("| --- | --- | ---: | ---: |")
        lines += [f"| {r['run']} | {r['page']} | {r['first_ms']:.0f} | {r['rerun_ms']:.0f} |" for r in pages]
    return "\n".join(lines) + "\n"


# The strong model's 1.5 s goal: today's preset's model, and strong-cnn, the preset's before (older results).
STRONG_MODELS = (PRESETS["strong"].model, "strong-cnn")
QUICK_LOWEST_ACCURACY = {"mnist": 0.989}  # no seed below this, beside the mean's goal


def command_rows(commands: dict | None) -> list[str]:
    if not commands:
        return []
    lines = [f"| `import core.train` | | {_s(commands['import_core_train_s'])} | | |"]
    for dataset in ("mnist", "fashion-mnist"):
        if row := commands.get(f"quick_{dataset}"):
            lowest = QUICK_LOWEST_ACCURACY.get(dataset, 0.0)
            met = (
                row["seconds"] <= row["goal_s"]
                and row["accuracy_mean"] >= row["goal_accuracy"]
                and row["accuracy_min"] >= lowest
            )
            accuracy = f"{row['accuracy_mean']:.2%}"
            if "accuracy_std" in row:
                accuracy += f" ± {row['accuracy_std']:.2%}"
            goal = f"≤ {row['goal_s']:g} s, mean ≥ {row['goal_accuracy']:.0%}" + (
                f", none < {lowest:.1%}" if lowest else ""
            )
            lines.append(
                f"| `python -m core train --dataset {dataset} --preset quick`, start to exit "
                f"(seeds {row['seeds'][0]}–{row['seeds'][-1]}) | | {_s(row['seconds'])}, test accuracy "
                f"{accuracy}, lowest {row['accuracy_min']:.2%} | | {_goal(goal, met)} |"
            )
    if "evaluate_mnist_strong_s" in commands:
        seconds = commands["evaluate_mnist_strong_s"]
        lines.append(
            f"| `python -m core evaluate mnist-strong`, start to exit | | {_s(seconds)} | "
            f"| {_goal('≤ 4 s', seconds <= 4)} |"
        )
    return lines


def training_rows(engine: dict | None, accuracy: dict | None, inference: list | None) -> list[str]:
    lines = []
    if engine:
        lines.append(
            f"| one MNIST epoch, two-conv dropout CNN, Adam, batch 64 ({engine['images']:,} images) "
            f"| tutorial pipeline {_s(engine['tutorial_s'])} | engine {_s(engine['engine_s'])} "
            f"| {_x(engine['ratio'])} | {_goal('≥ 1.5×', engine['ratio'] >= 1.5)} |"
        )
    for dataset, row in (accuracy or {}).items():
        lines.append(
            f"| training time to {row['target']:.0%} test accuracy on {dataset} "
            f"| {row['tutorial_model']} recipe {_s(row['tutorial_s'])} ({epochs_text(row['tutorial_epochs'])}) "
            f"| quick preset {_s(row['quick_s'])} ({epochs_text(row['quick_epochs'])}) | {_x(row['ratio'])} "
            f"| {_goal('≥ 6×', (row['ratio'] or 0) >= 6)} |"
        )
    for row in inference or []:
        goal = _goal("≤ 1.5 s", row["seconds"] <= 1.5) if row["model"] in STRONG_MODELS else ""
        cells = [
            f"predict the {row['images']:,} test images, {row['run']} ({row['model']})",
            f"channels-last {row['plain_seconds']:.2f} s" if row.get("plain_seconds") else "",
            f"{row['seconds']:.2f} s ({row['per_second']:,.0f} images/s)",
            _x(row["ratio"]) if row.get("ratio") else "",
            goal,
        ]
        lines.append("|" + "|".join(f" {cell} " if cell else " " for cell in cells) + "|")
    return lines


def dashboard_rows(pages: list | None, web: dict | None, share: dict | None) -> list[str]:
    lines = []
    if pages:
        reruns = [r["rerun_ms"] for r in pages]
        errors = [r["rerun_ms"] for r in pages if r["page"].startswith("Errors")]
        slowest = max(pages, key=lambda r: r["rerun_ms"])
        first = max(pages, key=lambda r: r["first_ms"])
        lines += [
            f"| first visit of a page (AppTest, every page, both datasets) | | up to {first['first_ms']:.0f} ms "
            f"(slowest: {first['page']}) | | {_goal('≤ 1 s', first['first_ms'] <= 1000)} |",
            f"| cached rerun of a page (AppTest, every page, both datasets) | | {min(reruns):.0f}–{max(reruns):.0f} ms "
            f"(slowest: {slowest['page']}) | | {_goal('≤ 150 ms', max(reruns) <= 150)} |",
        ]
        if errors:
            lines.append(
                f"| errors page with 100 images, cached rerun | | {max(errors):.0f} ms | | "
                f"{_goal('≤ 500 ms', max(errors) <= 500)} |"
            )
    if web:
        lines += [
            f"| cold start: `streamlit run` to the first page drawn in Chromium (median of "
            f"{len(web.get('cold_starts_s', [0]))}) | | {_s(web['cold_start_s'])} | | "
            f"{_goal('≤ 3 s', web['cold_start_s'] <= 3)} |",
            *train_click_row(web),
            f"| peak memory of the server after visiting every page | | {web['peak_memory_mb']:.0f} MB | | "
            f"{_goal('≤ 1.5 GB', web['peak_memory_mb'] <= 1536)} |",
            f"| {web['sessions']} sessions open the errors page at once while a job trains "
            f"(the browser's tabs share the 2 cores too) | one session alone {_s(web.get('one_session_alone_s'))} "
            f"| all drawn within {_s(web['sessions_slowest_s'])} | | every one drawn |",
        ]
    if share:
        lines += [
            f"| quick-preset epoch as a job ({share['job_threads']} torch thread{'s' * (share['job_threads'] > 1)}) "
            "while a page reruns every second "
            f"| alone {_s(share['epoch_alone_s'])} | {_s(share['epoch_while_browsing_s'])} | "
            f"{share['epoch_ratio']:.2f}× slower | {_goal('≤ 1.3×', share['epoch_ratio'] <= 1.3)} |",
            f"| cached page rerun while that job trains | alone {share['page_rerun_alone_ms']:.0f} ms "
            f"| {share['page_rerun_while_training_ms']:.0f} ms | {share['page_ratio']:.2f}× slower | |",
        ]
    return lines


def _training_goal(seconds: float | None, measured: float) -> str:
    return "" if seconds is None else _goal(f"training ≤ {seconds:g} s", measured <= seconds)


def train_click_row(web: dict) -> list[str]:
    if "train_click_to_finished_s" not in web:
        return []
    seconds, reading = web["train_click_to_finished_s"], web["train_click_reading_s"]
    return [
        f"| click Train (quick preset, MNIST) {reading:g} s after the page is drawn, to the finished run on "
        f"screen, in Chromium | each job's process started at the click {_s(web['train_click_without_standby_s'])} "
        f"| standby process {_s(seconds)} | {web['train_click_without_standby_s'] / seconds:.2f}× "
        f"| {_goal('≤ 12 s', seconds <= 12)} |",
        f"| the same, clicked the moment a fresh server has drawn the page | | {_s(web['train_click_at_once_s'])} "
        "| | |",
    ]


def gpu_lines(gpu: dict | None) -> list[str]:
    """The GPU section's own table: its figures come from another machine than the rest."""
    if not gpu:
        return []
    m = gpu["machine"]
    lines = [
        "",
        f"On a GPU (`python -m bench --only gpu`): {m['gpu']}, CUDA {m['cuda']}, {m['cores']} CPU cores; "
        f"torch {m['versions'].get('torch', '?')}, Python {m['python']}; {m['date']}, commit {m['commit']}.",
        "",
        "| what | training | start to exit | test accuracy | goal |",
        "| --- | ---: | ---: | --- | --- |",
    ]
    for key, title in (
        ("quick_mnist", "quick preset, MNIST"),
        ("quick_fashion-mnist", "quick preset, Fashion-MNIST"),
        ("strong_mnist", "strong preset, MNIST"),
        ("strong_fashion-mnist", "strong preset, Fashion-MNIST"),
    ):
        if row := gpu.get(key):
            seeds = f"seeds 0–{len(row['runs']) - 1}" if len(row["runs"]) > 1 else "seed 0"
            lines.append(
                f"| {title} ({seeds}, medians) | {_s(row['training_s'], 2)} | {_s(row['command_s'])} "
                f"| {row['accuracy_mean']:.2%} ± {row['accuracy_std']:.2%}, lowest {row['accuracy_min']:.2%} "
                f"| {_training_goal(row['training_goal_s'], row['training_s'])} |"
            )
    if warm := gpu.get("quick_mnist_in_process"):
        lines.append(
            f"| quick preset, MNIST, a second run in the same process (CUDA's libraries loaded) "
            f"| {_s(warm['training_s'], 2)} (the first: {_s(warm['first_training_s'], 2)}) | | "
            f"| {_training_goal(1.0, warm['training_s'])} |"
        )
    if inference := gpu.get("strong_inference"):
        lines.append(
            f"| predict the {inference['images']:,} test images, mnist-strong, in-process | | "
            f"{_s(inference['seconds'], 3)} | | |"
        )
    if "evaluate_mnist_strong_s" in gpu:
        lines.append(
            f"| `python -m core evaluate mnist-strong --device cuda` | | {_s(gpu['evaluate_mnist_strong_s'])} | | |"
        )
    return lines


def smoke(sections: list[str]) -> dict:
    """Every section once, on tiny synthetic datasets and runs in a temporary store: proof that the
    benchmark still runs (CI does this), not figures; ``results/`` is left alone."""
    from core.synthetic import write_idx_dataset
    from core.train import fit, start_run

    with tempfile.TemporaryDirectory() as folder:
        data_dir, store = Path(folder) / "data", Path(folder) / "runs"
        os.environ["DATA_DIR"], os.environ["CHECKPOINTS_DIR"] = str(data_dir), str(store)
        for dataset in DATASETS_TIMED:
            write_idx_dataset(data_dir, dataset, train_count=2_400, test_count=400)
            config = preset_config("quick", dataset, epochs=1, train_subset=1_000, threads=1)
            fit(config, start_run(config, store, run_id=f"{dataset}-smoke"), data_dir=data_dir)
        results = {"machine": machine()}
        for name in sections:
            results[name] = run_section(name, pairs=1, smoke=True)
            print(f"[{name}: done]")
        print(markdown(results))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--only", help=f"comma-separated sections: {', '.join(SECTIONS)}")
    parser.add_argument("--pairs", type=int, default=3, help="alternating pairs per comparison (default 3)")
    parser.add_argument("--smoke", action="store_true", help="every section on tiny data; writes no results")
    args = parser.parse_args()
    chosen = args.only.split(",") if args.only else list(SECTIONS)
    unknown = set(chosen) - set(SECTIONS)
    if unknown or args.pairs < 1:
        parser.error(f"unknown sections {sorted(unknown)}" if unknown else "--pairs must be at least 1")
    if args.smoke:
        smoke(chosen)
        return
    path = RESULTS / "bench.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    measured_on = machine()  # before the first write: results/ changed by this run is not "+changes"
    for name in chosen:
        started = time.perf_counter()
        measured = run_section(name, args.pairs)
        if not measured:  # e.g. the gpu section on a machine without one: the last figures stay
            continue
        results[name] = measured
        print(f"[{name}: {time.perf_counter() - started:.0f} s]")
        results["machine"] = measured_on
        atomic_write_json(path, results)  # after each section, so an interrupted run keeps what it measured
    atomic_write_text(RESULTS / "bench.md", markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()
