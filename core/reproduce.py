"""Train every tutorial architecture with its own recipe and tabulate ours against what it reported.

``python -m core reproduce`` writes ``results/reproduce.json`` and ``results/reproduce.md``.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from core.data import PROJECT_ROOT
from core.evidence import describe, environment
from core.models import MODELS
from core.presets import TUTORIAL_MODELS, preset_config
from core.train import fit, start_run

RESULTS_DIR = PROJECT_ROOT / "results"

# The dataset each tutorial used.
TUTORIAL_DATASETS = {name: "mnist" for name in TUTORIAL_MODELS} | {"fashion-two-conv": "fashion-mnist"}

# Budgets shortened from the tutorial's, with the reason shown in the table.
SHORTENED = {
    "two-conv-fc3": (5, "20 epochs would take about 14 minutes here; 5 shown"),
    "pytorch-examples-mnist": (
        3,
        "14 epochs of its full-resolution convolutions would take over 20 minutes here; 3 shown",
    ),
}

# Why our figure may differ from the tutorial's.
REMARKS = {
    "mlp": "the tutorial text's 99.81% is not in its own log",
    "one-conv": "the tutorial scaled its input by 1/128 by mistake; ours is standardised",
    "lenet5": "figure from LeCun et al.; no tutorial recipe, ours is Adam",
    "two-conv-dropout": "checkpoint chosen on our validation split, not on test data",
}


@dataclass
class Result:
    model: str
    dataset: str
    epochs: int
    tutorial_epochs: int
    test_accuracy: float | None
    best_epoch: int | None
    reported: str
    seconds: float  # sum of the epochs' training and validation time
    state: str
    remark: str


def reproduce(
    models: list[str] | None = None,
    checkpoints: Path | None = None,
    on_result: Callable[[Result], None] | None = None,
) -> list[Result]:
    """Train each tutorial model with its preset (shortened where SHORTENED says) and collect results."""
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        store = Path(checkpoints or scratch)
        for name in models or list(TUTORIAL_MODELS):
            dataset = TUTORIAL_DATASETS[name]
            tutorial_epochs = MODELS[name].recipe.epochs
            epochs, why = SHORTENED.get(name, (tutorial_epochs, ""))
            config = preset_config(name, dataset, epochs=epochs)
            run = start_run(config, store, run_id=f"reproduce-{dataset}-{name}")
            fit_result = fit(config, run)
            result = Result(
                model=name,
                dataset=dataset,
                epochs=epochs,
                tutorial_epochs=tutorial_epochs,
                test_accuracy=fit_result.test_accuracy,
                best_epoch=fit_result.best_epoch,
                reported=MODELS[name].reported,
                seconds=sum(record["seconds"] for record in fit_result.history),
                state=fit_result.state,
                remark="; ".join(part for part in (why, REMARKS.get(name, "")) if part),
            )
            results.append(result)
            if on_result:
                on_result(result)
    return results


def markdown_table(results: list[Result], env: dict) -> str:
    lines = [
        "# The tutorials' recipes, reproduced",
        "",
        f"Made by `python -m core reproduce`: {describe(env)}.",
        "Each model is trained with its tutorial's recipe (`python -m core models`); the checkpoint",
        "is the epoch of lowest validation loss and the accuracy is on the 10,000 test images.",
        "Seconds are training plus validation, summed over the epochs.",
        "",
        "| model | dataset | epochs | test accuracy (ours) | tutorial reported | seconds | remark |",
        "| --- | --- | ---: | ---: | --- | ---: | --- |",
    ]
    for r in results:
        epochs = f"{r.epochs}" if r.epochs == r.tutorial_epochs else f"{r.epochs} (of {r.tutorial_epochs})"
        accuracy = f"{r.test_accuracy:.2%}" if r.test_accuracy is not None else r.state
        lines.append(
            f"| `{r.model}` | {r.dataset} | {epochs} | {accuracy} | {r.reported} | {r.seconds:.0f} | {r.remark} |"
        )
    return "\n".join(lines) + "\n"


def write_results(results: list[Result], folder: Path = RESULTS_DIR) -> tuple[Path, Path]:
    """Write the table; rows of models not in ``results`` are kept from the previous table."""
    from core.storage import atomic_write_json, atomic_write_text

    env = environment()
    json_path, md_path = folder / "reproduce.json", folder / "reproduce.md"
    by_model = {r.model: r for r in _previous_results(json_path)} | {r.model: r for r in results}
    results = [by_model[name] for name in TUTORIAL_MODELS if name in by_model]
    atomic_write_json(json_path, {"environment": env, "results": [asdict(r) for r in results]})
    atomic_write_text(md_path, markdown_table(results, env))
    return json_path, md_path


def _previous_results(path: Path) -> list[Result]:
    try:
        return [Result(**row) for row in json.loads(path.read_text())["results"]]
    except (OSError, ValueError, KeyError, TypeError):
        return []
