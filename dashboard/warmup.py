"""Torch, the analysis code and the libraries the pages use, loaded in the background between runs.

The sidebar and the Runs page need no torch (``dashboard.store``), while torch and the libraries the
other pages import (scikit-learn, captum, cleanlab…) take seconds to import on a small machine. So a
fresh server draws its first page without them, then imports them, one module at a time, in a thread
that runs only while no script run is under way: a run that starts waits for the module being
imported, never for the whole list, and the thread goes on after it. Two threads importing modules
that import each other can deadlock on Python's import locks, so this thread never imports while a
script run is under way.

app.py calls ``begin_run`` first and ``end_run`` last (in a ``finally``) on every script run.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import sys
import threading

from core.devices import use_threads

# The dashboard leaves the other core to a training job: two torch processes that each use
# every core run far slower than either alone.
DASHBOARD_TORCH_THREADS = 1

# In the order a reader is likely to need them: torch and the caches first.
BACKGROUND_IMPORTS = (
    "dashboard.cached",  # torch, core's data and evaluation code
    "dashboard.charts",  # altair
    "dashboard.widgets",
    "sklearn.metrics",  # the confusion matrix
    "captum.attr",  # the inspector's saliency
    "cleanlab.filter",  # label issues
    "cleanlab.rank",
    "scipy.cluster.hierarchy",  # the confusion matrix's order for many classes
    "torchinfo",  # the model card
)

_lock = threading.Lock()
_pause = threading.Event()
_pending = list(BACKGROUND_IMPORTS)
_running_scripts = 0
_loader: threading.Thread | None = None


def limit_torch_threads() -> None:
    """One torch thread for this script run's thread (torch's count is per thread), once torch is loaded."""
    if sys.modules.get("torch") is not None:
        use_threads(DASHBOARD_TORCH_THREADS)


def begin_run() -> None:
    """A script run starts: pause the background imports, waiting for the one under way if any."""
    global _running_scripts
    with _lock:
        _running_scripts += 1
        _pause.set()
        loader = _loader
    if loader is not None:
        loader.join()
    limit_torch_threads()


def end_run() -> None:
    """A script run ended: with none left running, go on with the imports not yet done."""
    global _running_scripts, _loader
    with _lock:
        _running_scripts -= 1
        if _running_scripts or not _pending or (_loader is not None and _loader.is_alive()):
            return
        _pause.clear()
        _loader = threading.Thread(target=_import_pending, name="dashboard-imports", daemon=True)
        _loader.start()


def pending_imports() -> list[str]:
    """The background imports not done yet."""
    return list(_pending)


def loading() -> bool:
    """Whether the background imports are under way right now."""
    return _loader is not None and _loader.is_alive()


def _import_pending() -> None:
    while _pending and not _pause.is_set():
        # A module that fails to import is left to the page that imports it: it reports the error there.
        with contextlib.suppress(Exception):
            importlib.import_module(_pending[0])
        _pending.pop(0)
    if not _pending:
        _freeze_what_is_loaded()


def _freeze_what_is_loaded() -> None:
    """Leave the objects alive now out of every later garbage collection (``gc.freeze``).

    Streamlit collects every generation after each script run (``runner.postScriptGC``). With torch
    and the pages' libraries loaded that walks about 380,000 objects, 0.24 s of CPU each time (measured
    here), and the Train page's progress reruns every second while a job trains beside it. What is alive
    now is the modules' own functions, classes and tables, alive as long as the server; left out, the
    collection after a run takes 2 ms. Objects made later are collected as before."""
    gc.collect()  # garbage now is not kept forever
    gc.freeze()
