"""The CUDA path, where a GPU is: ``python -m bench --only gpu`` on a machine with one.

Whole commands as a user runs them there (``--device cuda``): the quick preset over seeds 0–4 on
each dataset, one strong run per dataset, ``evaluate`` of the shipped strong run; and the strong
model's predictions for the test split in-process. Training seconds are the run's own (the sum of
its epochs' ``seconds``, validation included), beside the command's start-to-exit.

Its figures come from the GPU machine and are kept under their own ``machine`` record: the rest of
``results/bench.json`` is this 2-core CPU's. ``--smoke`` runs the same code on the CPU, tiny.
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import torch

from bench.commands import timed, train_command
from core.evidence import environment, mean_std
from core.runs import default_checkpoints_dir

# Goals on an H100: the quick preset's training in ≤ 1 s, a strong run in ≤ 30 s.
QUICK_TRAINING_GOAL_S = 1.0
STRONG_TRAINING_GOAL_S = 30.0
SEEDS = range(5)


def summarize(rows: list[dict], goal_s: float | None) -> dict:
    accuracy_mean, accuracy_std = mean_std([row["test_accuracy"] for row in rows])
    return {
        "runs": rows,
        "command_s": statistics.median(row["command_s"] for row in rows),
        "training_s": statistics.median(row["training_s"] for row in rows),
        "accuracy_mean": accuracy_mean,
        "accuracy_std": accuracy_std,
        "accuracy_min": min(row["test_accuracy"] for row in rows),
        "training_goal_s": goal_s,
    }


def strong_inference(device: str) -> dict | None:
    """The shipped strong MNIST model on the 10,000 test images, in-process, after a warm-up."""
    from bench.training import prediction_seconds
    from core.data import load_dataset
    from core.runs import load_run

    if not (default_checkpoints_dir() / "mnist-strong" / "model.safetensors").exists():
        return None
    run = load_run("mnist-strong")
    images = load_dataset("mnist").test.images
    # The warm-up on every image: each batch shape's kernels load on its first use.
    seconds = prediction_seconds(run.load_model(device), images, run.config, device, repeats=5, warm_up=len(images))
    return {"images": len(images), "seconds": seconds}


def quick_in_process(device: str, smoke: bool) -> dict:
    """The quick MNIST preset's training seconds once the process has CUDA's libraries loaded: a first
    fit pays for loading them (cuDNN's kernels, the graph's capture); seeds 1–2 are timed after seed 0."""
    from core.data import load_dataset
    from core.presets import preset_config
    from core.train import fit

    data = load_dataset("mnist")
    extra = {"train_subset": 1000, "epochs": 1} if smoke else {}
    seconds = []
    for seed in range(3):
        result = fit(preset_config("quick", "mnist", device=device, seed=seed, **extra), data=data)
        seconds.append(sum(epoch["seconds"] for epoch in result.history))
    return {"first_training_s": seconds[0], "training_s": statistics.median(seconds[1:])}


def bench_gpu(smoke: bool = False) -> dict:
    device = "cpu" if smoke else "cuda"
    if device == "cuda" and not torch.cuda.is_available():
        print("gpu: no CUDA device here; nothing measured")
        return {}
    extra = ("--train-subset", "1000", "--epochs", "1") if smoke else ()
    seeds = range(1) if smoke else SEEDS
    results: dict = {"machine": environment() | {"cuda": torch.version.cuda}}
    with tempfile.TemporaryDirectory() as folder:
        store = Path(folder)
        for dataset in ("mnist", "fashion-mnist"):
            rows = [train_command(dataset, "quick", seed, store, device, extra) for seed in seeds]
            results[f"quick_{dataset}"] = summarize(rows, QUICK_TRAINING_GOAL_S if dataset == "mnist" else None)
            print(f"gpu quick {dataset}: {[(round(r['training_s'], 2), r['test_accuracy']) for r in rows]}")
        for dataset in ("mnist", "fashion-mnist"):
            row = train_command(dataset, "strong", 0, store, device, extra)
            results[f"strong_{dataset}"] = summarize([row], STRONG_TRAINING_GOAL_S)
            print(f"gpu strong {dataset}: {row['training_s']:.1f} s, {row['test_accuracy']:.2%}")
        strong = default_checkpoints_dir() / "mnist-strong"
        if (strong / "model.safetensors").exists():
            shutil.copytree(strong, store / "mnist-strong")  # evaluate a copy: the shipped run stays untouched
            args = [sys.executable, "-m", "core", "evaluate", "mnist-strong", "--checkpoints", str(store)]
            results["evaluate_mnist_strong_s"] = timed([*args, "--device", device])
    results["quick_mnist_in_process"] = quick_in_process(device, smoke)
    if not smoke:
        results["strong_inference"] = strong_inference(device)
    print(f"gpu: {json.dumps({k: v for k, v in results.items() if k != 'machine'}, default=str)[:2000]}")
    return results
