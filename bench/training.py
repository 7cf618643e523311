"""Training and inference speed: the engine against the tutorials' pipeline, time to accuracy, predictions/s.

Both sides of each comparison run in the same invocation, alternating, ``pairs`` times; the
ratio reported is the median of the pairs' ratios (absolute times drift on a shared machine).
"""

from __future__ import annotations

import statistics
import time

import torch
import torch.nn.functional as F

from core.data import DATASETS, default_data_dir, load_dataset
from core.devices import available_cores
from core.evaluate import onednn_split, predict
from core.models import create_model
from core.presets import preset_config, recipe_config
from core.runs import list_runs, load_run
from core.train import fit


def _median_ratio(pairs: list[tuple[float, float]]) -> float:
    return statistics.median(baseline / ours for baseline, ours in pairs)


# --- 1. the engine against the tutorials' pipeline -------------------------------------------------


def tutorial_epoch(train_indices: torch.Tensor, seed: int) -> float:
    """Seconds of one epoch the tutorials' way: torchvision's dataset, per-image ToTensor and Normalize,
    a shuffling DataLoader, the two-conv dropout CNN, Adam 1e-3, batch 64 (on the same 55,000 images)."""
    from torchvision import datasets, transforms

    info = DATASETS["mnist"]
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((info.mean,), (info.std,))])
    dataset = datasets.MNIST(default_data_dir(), train=True, download=False, transform=transform)
    subset = torch.utils.data.Subset(dataset, train_indices.tolist())
    torch.manual_seed(seed)
    torch.set_num_threads(available_cores())  # as the engine's side uses
    loader = torch.utils.data.DataLoader(subset, batch_size=64, shuffle=True)
    model = create_model("two-conv-dropout")
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    started = time.perf_counter()
    for images, labels in loader:
        optimizer.zero_grad()
        loss = F.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()
    return time.perf_counter() - started


def engine_epoch(data, seed: int) -> float:
    """Seconds of the same epoch through core.train (its figure includes the validation pass)."""
    config = recipe_config("two-conv-dropout", "mnist", epochs=1, seed=seed, device="cpu", threads=available_cores())
    result = fit(config, data=data)
    return result.history[0]["seconds"]


def bench_engine(pairs: int) -> dict:
    data = load_dataset("mnist")
    measured = []
    for pair in range(pairs):
        baseline = tutorial_epoch(data.train.indices, seed=pair)
        ours = engine_epoch(data, seed=pair)
        measured.append((baseline, ours))
        print(f"engine pair {pair + 1}: tutorial pipeline {baseline:.1f} s, engine {ours:.1f} s")
    return {
        "pairs": [{"tutorial_s": b, "engine_s": o} for b, o in measured],
        "tutorial_s": statistics.median(b for b, _ in measured),
        "engine_s": statistics.median(o for _, o in measured),
        "ratio": _median_ratio(measured),
        "images": len(data.train.labels),
    }


# --- 2. time to accuracy ----------------------------------------------------------------------------


class _Reached(KeyboardInterrupt):
    """Stops fit() once the target is met (fit treats it as a cancel and keeps the model)."""


def seconds_to_accuracy(config, data, target: float) -> tuple[float | None, int]:
    """Training seconds until the test accuracy after an epoch is ≥ target (None if never), and epochs run.

    The test evaluation after each epoch is not counted: it is the measurement, not the training.
    """
    spent, epochs, reached = 0.0, 0, False

    def after_epoch(progress) -> None:
        nonlocal spent, epochs, reached
        if progress.kind != "epoch":
            return
        spent, epochs = spent + progress.record["seconds"], progress.epoch
        logits = predict(progress.model, data.test.images, data.info.mean, data.info.std)
        if (logits.argmax(1) == data.test.labels).float().mean().item() >= target:
            reached = True
            raise _Reached

    fit(config, data=data, on_progress=after_epoch)
    return (spent if reached else None), epochs


# The two-conv dropout tutorial recipe is the baseline on both datasets; up to 15 epochs to get there.
TARGETS = {"mnist": (0.99, "two-conv-dropout", 15), "fashion-mnist": (0.91, "two-conv-dropout", 15)}


def bench_time_to_accuracy(pairs: int) -> dict:
    rows = {}
    for dataset, (target, tutorial_model, max_epochs) in TARGETS.items():
        data = load_dataset(dataset)
        threads = available_cores()
        quick = preset_config("quick", dataset, device="cpu", threads=threads)
        tutorial = recipe_config(tutorial_model, dataset, epochs=max_epochs, device="cpu", threads=threads)
        measured, epochs = [], {}
        for pair in range(pairs):
            baseline, epochs["tutorial"] = seconds_to_accuracy(tutorial, data, target)
            ours, epochs["quick"] = seconds_to_accuracy(quick, data, target)
            measured.append((baseline, ours))
            print(f"{dataset} ≥ {target:.0%} pair {pair + 1}: tutorial {baseline} s, quick {ours} s")
        reached = [(b, o) for b, o in measured if b is not None and o is not None]
        # None: that side never got there in its epochs (a figure too, shown as "not reached").
        theirs, ours = ([t for t in times if t is not None] for times in zip(*measured, strict=True))
        rows[dataset] = {
            "target": target,
            "tutorial_model": tutorial_model,
            "tutorial_s": statistics.median(theirs) if theirs else None,
            "quick_s": statistics.median(ours) if ours else None,
            "tutorial_epochs": epochs["tutorial"],
            "quick_epochs": epochs["quick"],
            "ratio": _median_ratio(reached) if reached else None,
            "pairs": [{"tutorial_s": b, "quick_s": o} for b, o in measured],
        }
    return rows


# --- 3. inference -----------------------------------------------------------------------------------


def prediction_seconds(model, images, config, device: str = "cpu", repeats: int = 3, warm_up: int = 1000) -> float:
    """Median seconds of ``predict`` over ``images`` (standardised with the run ``config``'s mean and std),
    after a warm-up on the first ``warm_up`` of them."""
    predict(model, images[:warm_up], config.mean, config.std, device=device)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        predict(model, images, config.mean, config.std, device=device)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def bench_inference(repeats: int = 5) -> list[dict]:
    """Each completed run's test predictions; for our own CNNs, beside the same layers as a plain
    Sequential (the channels-last path every other model takes), alternating."""
    rows = []
    for summary in list_runs():
        if summary.state != "completed":
            continue
        run = load_run(summary.id)
        images = load_dataset(run.config.dataset).test.images
        model = run.load_model()
        plain = torch.nn.Sequential(*model) if onednn_split(model) else None
        measured = []
        for _ in range(repeats):
            ours = prediction_seconds(model, images, run.config, repeats=1)
            measured.append((prediction_seconds(plain, images, run.config, repeats=1) if plain else None, ours))
        seconds = statistics.median(ours for _, ours in measured)
        rows.append(
            {
                "run": summary.id,
                "model": summary.model,
                "images": len(images),
                "seconds": seconds,
                "per_second": len(images) / seconds,
                "plain_seconds": statistics.median(b for b, _ in measured) if plain else None,
                "ratio": _median_ratio(measured) if plain else None,
            }
        )
        print(f"inference {summary.id}: {seconds:.2f} s for {len(images)} images")
    return rows
