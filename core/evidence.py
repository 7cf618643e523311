"""What every results file records beside its figures: the commit, the machine and the versions.

Figures are only comparable with the code, the CPU and the libraries that made them; code comments
cite the results file (``results/…``) rather than copying one run's figure.

    environment()  # {"commit": "23a8b59", "cpu": "AMD EPYC …", "cpu_isa": "AVX512", "cores": 2, …}
    mean_std([0.991, 0.992, 0.990])   # (0.991, 0.001): sample standard deviation
"""

from __future__ import annotations

import platform
import statistics
import subprocess
import time
from importlib import metadata

from core.data import PROJECT_ROOT
from core.devices import available_cores

PACKAGES = ("torch", "torchvision", "numpy", "streamlit", "scikit-learn", "captum", "cleanlab")


def epochs_text(count: int) -> str:
    """``1 epoch``, ``3 epochs``: as the results tables say it."""
    return "1 epoch" if count == 1 else f"{count} epochs"


def commit() -> str:
    """The checked-out commit (with "+changes" when the tree differs from it), or "unknown"."""
    try:
        head = _git("rev-parse", "--short", "HEAD")
        dirty = _git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("+changes" if dirty else "")


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_text(env: dict) -> str:
    """``AMD EPYC (AVX512)``: the model and, where recorded, its vector instructions."""
    return f"{env['cpu']} ({env['cpu_isa']})" if env.get("cpu_isa") else env["cpu"]


def environment() -> dict:
    """The commit, the machine and the library versions, for a results file."""
    import torch

    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return {
        "commit": commit(),
        "date": time.strftime("%Y-%m-%d"),
        "cpu": cpu_model(),
        # The vector instructions torch's kernels use (AVX2, AVX512): the same model name can have either.
        "cpu_isa": torch.backends.cpu.get_cpu_capability(),
        "cores": available_cores(),
        "torch_threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "python": platform.python_version(),
        "versions": versions,
    }


def describe(env: dict) -> str:
    """One line for a markdown results file."""
    device = env["gpu"] or f"{cpu_text(env)}, {env['cores']} cores"
    return (
        f"commit {env['commit']}, {env['date']}; {device}, {env['torch_threads']} torch threads; "
        f"Python {env['python']}, torch {env['versions'].get('torch', '?')}"
    )


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    values = [float(v) for v in values]
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def _git(*args: str) -> str:
    result = subprocess.run(["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=10, check=True)
    return result.stdout.strip()
