"""Train and evaluate MNIST-family classifiers; the engine behind the dashboard.

The names below are imported on first use (PEP 562), so that ``import core`` and ``python -m core``
cost nothing before a command knows what it needs: torch alone takes seconds to import on a small CPU.
"""

from __future__ import annotations

import importlib

_WHERE = {
    "ConfigError": "core.config",
    "TrainConfig": "core.config",
    "DATASETS": "core.data",
    "DataError": "core.data",
    "load_dataset": "core.data",
    "Evaluation": "core.evaluate",
    "predict": "core.evaluate",
    "create_model": "core.models",
    "list_models": "core.models",
    "log_run": "core.runlog",
    "RunError": "core.runs",
    "list_runs": "core.runs",
    "load_run": "core.runs",
    "fit": "core.train",
    "start_run": "core.train",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'core' has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name]), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])
