"""The first page is drawn without torch; torch and the analysis code load in the background after it.

Each check runs in a fresh Python process: the test process itself imported torch long ago.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

from core.data import PROJECT_ROOT

APP = str(PROJECT_ROOT / "dashboard" / "app.py")

FIRST_PAGE = """
import sys
from streamlit.testing.v1 import AppTest
{before}
at = AppTest.from_file({app!r}, default_timeout=120)
at.run()
assert not at.exception, [e.message for e in at.exception]
assert at.title[0].value == "MNIST Lens", "not the Runs page"
assert len(at.dataframe) == 1, "no runs table"
{after}
print("ok")
"""


def run_python(code: str, store) -> subprocess.CompletedProcess:
    data_dir, checkpoints = store
    env = {"DATA_DIR": str(data_dir), "CHECKPOINTS_DIR": str(checkpoints), "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], cwd=PROJECT_ROOT, capture_output=True, text=True, env=env
    )


def test_the_first_page_is_drawn_without_importing_torch(trained_store):
    # torch made unimportable: anything the first page's path imports from it fails the page.
    code = FIRST_PAGE.format(app=APP, before="sys.modules['torch'] = None", after="")
    done = run_python(code, trained_store)
    assert done.returncode == 0 and "ok" in done.stdout, done.stderr[-3000:]


def test_the_heavy_imports_go_on_between_script_runs_and_pause_during_one(trained_store):
    after = """
import time
from dashboard import warmup
assert warmup.loading(), "no background imports after the first page"
warmup.begin_run()  # a script run starts: it waits for the module under way, not for the whole list
assert not warmup.loading() and warmup.pending_imports(), "the imports did not pause"
paused_at = warmup.pending_imports()
time.sleep(1.0)
assert warmup.pending_imports() == paused_at, "imports went on during a script run"
warmup.end_run()
deadline = time.monotonic() + 180
while warmup.pending_imports() and time.monotonic() < deadline:
    time.sleep(0.2)
assert not warmup.pending_imports(), warmup.pending_imports()
for name in ("torch", "dashboard.cached", "sklearn.metrics", "captum.attr", "cleanlab.filter"):
    assert name in sys.modules, name
import gc
deadline = time.monotonic() + 60
while warmup.loading() and time.monotonic() < deadline:
    time.sleep(0.1)
# What was loaded is left out of later collections: Streamlit's after every run walks only what is new.
assert gc.get_freeze_count() > 100_000, gc.get_freeze_count()
"""
    done = run_python(FIRST_PAGE.format(app=APP, before="", after=after), trained_store)
    assert done.returncode == 0 and "ok" in done.stdout, done.stderr[-3000:]
