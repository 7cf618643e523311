"""What a person waits for: whole commands, from the shell's start to its exit.

Each is a fresh ``python`` process (imports, data, training, writing the run), as a user runs it;
the figures are medians over ``pairs`` runs. Run on an otherwise idle machine.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from core.data import PROJECT_ROOT
from core.evidence import mean_std
from core.runs import default_checkpoints_dir

QUICK_GOALS = {"mnist": (10.0, 0.99), "fashion-mnist": (15.0, 0.91)}  # seconds, test accuracy


def timed(args: list[str]) -> float:
    """Seconds from the process's start to its exit; raises with its output when it fails."""
    started = time.perf_counter()
    done = subprocess.run(args, cwd=PROJECT_ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}): {done.stderr[-2000:]}")
    return seconds


def train_command(dataset: str, preset: str, seed: int, store: Path, device: str | None = None, extra=()) -> dict:
    """One ``python -m core train`` end to end (on ``device``, else the default): its seconds from start to
    exit, the training seconds the run recorded (its epochs', validation included), its test accuracy."""
    run_id = f"{dataset}-{preset}-seed{seed}-{time.time_ns()}"
    args = [sys.executable, "-m", "core", "train", "--dataset", dataset, "--preset", preset, "--quiet"]
    args += ["--seed", str(seed), "--run-id", run_id, "--checkpoints", str(store), *extra]
    seconds = timed([*args, *(("--device", device) if device else ())])
    run = store / run_id
    epochs = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines() if line.strip()]
    status = json.loads((run / "status.json").read_text())
    return {
        "seed": seed,
        "command_s": seconds,
        "training_s": sum(epoch["seconds"] for epoch in epochs),
        "epochs": len(epochs),
        "test_accuracy": status["test_accuracy"],
        "device": status["device"],
    }


def bench_commands(pairs: int, smoke: bool = False) -> dict:
    extra = ("--train-subset", "2000", "--epochs", "1") if smoke else ()
    results: dict = {
        "import_core_train_s": statistics.median(
            timed([sys.executable, "-c", "import core.train"]) for _ in range(pairs)
        )
    }
    with tempfile.TemporaryDirectory() as folder:
        store = Path(folder)
        for dataset, (goal_s, goal_accuracy) in QUICK_GOALS.items():
            runs = [train_command(dataset, "quick", seed, store, extra=extra) for seed in range(pairs)]
            seconds = [run["command_s"] for run in runs]
            accuracies = [run["test_accuracy"] for run in runs]
            accuracy_mean, accuracy_std = mean_std(accuracies)
            results[f"quick_{dataset}"] = {
                "seconds": statistics.median(seconds),
                "accuracy_mean": accuracy_mean,
                "accuracy_std": accuracy_std,
                "accuracy_min": min(accuracies),
                "seeds": list(range(pairs)),
                "goal_s": goal_s,
                "goal_accuracy": goal_accuracy,
            }
            print(f"quick {dataset}: {statistics.median(seconds):.1f} s, accuracies {accuracies}")
        strong = default_checkpoints_dir() / "mnist-strong"
        if (strong / "model.safetensors").exists() and not smoke:
            shutil.copytree(strong, store / "mnist-strong")  # evaluate a copy: the shipped run stays untouched
            args = [sys.executable, "-m", "core", "evaluate", "mnist-strong", "--checkpoints", str(store)]
            results["evaluate_mnist_strong_s"] = statistics.median(timed(args) for _ in range(pairs))
            print(f"evaluate mnist-strong: {results['evaluate_mnist_strong_s']:.1f} s")
    return results
