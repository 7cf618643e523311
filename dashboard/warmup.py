"""Torch and the analysis code, loaded in the background once the first page is drawn.

The sidebar and the Runs page need no torch (``dashboard.store``); torch and the modules over it
take about 3 s to import on a small machine. So a fresh server draws its first page without them,
then loads them in a thread while the reader looks at that page, and the next page opens at once.
A script run that starts while the thread is still loading waits for it (``finish_loading``): two
threads importing the same modules at once could deadlock on Python's import locks.
"""

from __future__ import annotations

import sys
import threading

from core.devices import use_threads

# The dashboard leaves the other core to a training job: two torch processes that each use
# every core run far slower than either alone.
DASHBOARD_TORCH_THREADS = 1

_started = threading.Lock()
_loader: threading.Thread | None = None


def limit_torch_threads() -> None:
    """One torch thread for this script run's thread (torch's count is per thread), once torch is loaded."""
    if sys.modules.get("torch") is not None:
        use_threads(DASHBOARD_TORCH_THREADS)


def start_loading() -> None:
    """Import the heavy modules in a background thread, once per server process."""
    global _loader
    with _started:
        if _loader is None:
            _loader = threading.Thread(target=_load, name="dashboard-warm-up", daemon=True)
            _loader.start()


def finish_loading() -> None:
    """Wait for the background import, if one is under way."""
    if _loader is not None:
        _loader.join()


def _load() -> None:
    try:
        import dashboard.charts  # noqa: F401  altair
        import dashboard.widgets  # noqa: F401  torch, core's analysis, the caches (dashboard.cached)
    except Exception:  # noqa: BLE001 - a page that imports them later reports the error where it can be read
        return
