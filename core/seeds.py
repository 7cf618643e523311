"""Accuracy as mean ± standard deviation over seeds: ``python -m core seeds`` → results/seeds.{json,md}.

One run's accuracy is one draw; a claim about a recipe is the mean and spread of several. Each
(dataset, preset, model) row is kept until it is measured again, with the commit and machine it came
from: a preset that changes its model keeps the row of the model before, to compare with.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from core.evidence import describe, environment, epochs_text, mean_std
from core.presets import preset_config
from core.train import fit, start_run

RESULTS_FILE = "seeds.json"


@dataclass
class SeedRow:
    dataset: str
    preset: str
    seeds: list[int]
    test_accuracies: list[float]
    training_seconds: list[float]  # the epochs' seconds, summed, per seed
    epochs: int
    environment: dict
    model: str = ""  # a preset's model can change: the row says which one it measured

    @property
    def summary(self) -> tuple[float, float]:
        return mean_std(self.test_accuracies)


def train_seeds(preset: str, dataset: str, seeds: list[int], store: Path | None = None, report=None) -> SeedRow:
    """Train the preset once per seed (runs in ``store``, else thrown away) and collect the test accuracies."""
    accuracies, seconds, epochs, model = [], [], 0, ""
    with tempfile.TemporaryDirectory() as scratch:
        for seed in seeds:
            config = preset_config(preset, dataset, seed=seed)
            run = start_run(config, Path(store or scratch), run_id=f"seeds-{dataset}-{preset}-{seed}")
            result = fit(config, run)
            if result.state != "completed":
                raise RuntimeError(f"seed {seed} ended {result.state}: {result.error}")
            accuracies.append(result.test_accuracy)
            seconds.append(sum(record["seconds"] for record in result.history))
            epochs, model = config.epochs, config.model
            if report:
                report(seed, result.test_accuracy, seconds[-1])
    return SeedRow(dataset, preset, list(seeds), accuracies, seconds, epochs, environment(), model)


def markdown(rows: list[SeedRow]) -> str:
    lines = [
        "# Accuracy over seeds",
        "",
        "Made by `python -m core seeds --dataset D --preset P --seeds 0-4`: each seed trained from scratch,",
        "the kept epoch's accuracy on the dataset's test split (10,000 images for MNIST and Fashion-MNIST).",
        "Mean ± sample standard deviation.",
        "",
        "| dataset | preset | seeds | test accuracy | lowest | training time per run | measured on |",
        "| --- | --- | --- | ---: | ---: | ---: | --- |",
    ]
    for row in rows:
        mean, std = row.summary
        time_mean, time_std = mean_std(row.training_seconds)
        seeds = f"{min(row.seeds)}–{max(row.seeds)}" if len(row.seeds) > 1 else str(row.seeds[0])
        epochs = epochs_text(row.epochs)
        recipe = f"{row.model}, {epochs}" if row.model else epochs
        lines.append(
            f"| {row.dataset} | {row.preset} ({recipe}) | {seeds} | {mean:.2%} ± {std:.2%} "
            f"| {min(row.test_accuracies):.2%} | {time_mean:.1f} ± {time_std:.1f} s | {describe(row.environment)} |"
        )
    return "\n".join(lines) + "\n"


def write_results(row: SeedRow, folder: Path) -> tuple[Path, Path]:
    """Add (or replace) the row for its dataset, preset and model; the other rows stay."""
    from core.storage import atomic_write_json, atomic_write_text

    path = Path(folder) / RESULTS_FILE
    key = (row.dataset, row.preset, row.model)
    rows = [old for old in _previous(path) if (old.dataset, old.preset, old.model) != key] + [row]
    rows.sort(key=lambda r: (r.dataset, r.preset, r.model))
    atomic_write_json(path, {"rows": [asdict(r) for r in rows]})
    atomic_write_text(path.with_suffix(".md"), markdown(rows))
    return path, path.with_suffix(".md")


def _previous(path: Path) -> list[SeedRow]:
    try:
        return [SeedRow(**row) for row in json.loads(path.read_text())["rows"]]
    except (OSError, ValueError, KeyError, TypeError):
        return []
