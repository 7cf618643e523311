"""Training jobs: ``python -m core train --run-dir …`` as a child process, one at a time per store.

The lock is a file in the checkpoints folder naming the run and the child's pid. It is taken
with O_EXCL (two clicks cannot both win), released by the child when it ends, and broken by
the next caller when its process is gone (killed hard, machine restarted): a crash can't hold
it forever. Progress lives in the run folder, so any page, tab or user sees the same job.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from core.config import TrainConfig
from core.data import PROJECT_ROOT
from core.devices import available_cores
from core.runs import Run, default_checkpoints_dir, now_iso, pid_alive
from core.train import start_run

LOCK_FILE = ".training.lock"
LOG_FILE = "train.log"


class JobBusy(RuntimeError):
    """Another job holds the store's lock."""

    def __init__(self, job: Job):
        self.job = job
        super().__init__(f"run {job.run_id or '(starting)'} is already training (one job at a time)")


@dataclass
class Job:
    run_id: str
    run_path: str
    pid: int | None
    host: str
    started: float

    @property
    def run(self) -> Run:
        return Run(Path(self.run_path))


def child_threads() -> int:
    """Torch threads for a job started from the dashboard: every core but one, so pages stay quick."""
    return max(1, available_cores() - 1)


def _lock_path(root: Path) -> Path:
    return Path(root) / LOCK_FILE


def _read_lock(root: Path) -> Job | None:
    """The lock's job; None when unreadable or when it names a run outside this store."""
    try:
        job = Job(**json.loads(_lock_path(root).read_text()))
    except (OSError, ValueError, TypeError):
        return None
    if job.run_path and Path(job.run_path).parent.resolve() != Path(root).resolve():
        return None
    if job.pid is not None and (isinstance(job.pid, bool) or not isinstance(job.pid, int) or job.pid <= 0):
        return None
    return job


def _is_training_process(pid: int) -> bool:
    """Whether pid is one of our training children (so that a forged lock can't aim a signal elsewhere)."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return sys.platform != "linux"  # no /proc to ask: trust the lock
    return b"core" in command and b"train" in command


def _is_stale(job: Job) -> bool:
    if job.host != socket.gethostname():
        return False  # can't see another machine's processes; its heartbeat tells
    if job.pid is None:  # taken, child not started yet: give the starter a moment
        return time.time() - job.started > 30
    return not pid_alive(job.pid)


def active_job(root: Path | None = None) -> Job | None:
    """The job holding the store's lock, or None (a stale lock is removed)."""
    root = Path(root or default_checkpoints_dir())
    job = _read_lock(root)
    if job is None:
        if _lock_path(root).exists() and time.time() - _lock_path(root).stat().st_mtime > 30:
            _lock_path(root).unlink(missing_ok=True)  # unreadable and old: a crash mid-write
        return None
    if _is_stale(job):
        _lock_path(root).unlink(missing_ok=True)
        return None
    return job


def _take_lock(root: Path) -> Job:
    """Create the lock file or raise JobBusy; O_EXCL makes two simultaneous callers have one winner."""
    job = Job("", "", None, socket.gethostname(), time.time())
    for _ in range(2):
        try:
            fd = os.open(_lock_path(root), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = active_job(root)  # removes the lock if it is stale
            if holder is not None:
                raise JobBusy(holder) from None
            continue
        with os.fdopen(fd, "w") as handle:
            json.dump(job.__dict__, handle)
        return job
    raise JobBusy(_read_lock(root) or job)


def _write_lock(root: Path, job: Job) -> None:
    tmp = _lock_path(root).with_suffix(".tmp")
    tmp.write_text(json.dumps(job.__dict__))
    os.replace(tmp, _lock_path(root))


def release_lock(root: Path, run_id: str) -> None:
    """Remove the lock if it names this run (called by the child when it ends)."""
    job = _read_lock(root)
    if job is not None and job.run_id == run_id:
        _lock_path(root).unlink(missing_ok=True)


def start_job(
    config: TrainConfig,
    root: Path | None = None,
    data_dir: Path | None = None,
    command: list[str] | None = None,
) -> Job:
    """Validate, take the lock, create the run folder and start the child; returns at once.

    Raises ConfigError for bad values and JobBusy when a job is already training.
    """
    config.validate()
    root = Path(root or default_checkpoints_dir())
    root.mkdir(parents=True, exist_ok=True)
    job = _take_lock(root)  # before the run folder: a refused click leaves nothing behind
    try:
        run = start_run(config, root)
    except BaseException:
        _lock_path(root).unlink(missing_ok=True)
        raise
    job.run_id, job.run_path = run.id, str(run.path)
    args = command or [sys.executable, "-m", "core", "train", "--run-dir", str(run.path), "--quiet"]
    if data_dir is not None and command is None:
        args += ["--data-dir", str(data_dir)]
    env = {**os.environ, "CHECKPOINTS_DIR": str(root)}
    # Until the child writes its own status (after importing torch), the run says it is starting.
    run.update_status(state="running", pid=None, host=job.host, heartbeat=time.time(), started=now_iso())
    try:
        with open(run.path / LOG_FILE, "ab") as log:
            child = subprocess.Popen(
                args, cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
    except OSError as error:
        _lock_path(root).unlink(missing_ok=True)
        run.write_status("failed", error=f"the training process could not start: {error}")
        raise
    # Reap the child when it ends, so that a finished job never lingers as a zombie that looks alive.
    threading.Thread(target=child.wait, daemon=True).start()
    job.pid = child.pid
    _write_lock(root, job)
    return job


def cancel_job(root: Path | None = None) -> Job | None:
    """Ask the running job to stop (SIGTERM): it marks its run cancelled and keeps its best weights."""
    job = active_job(root)
    if job is None or job.pid is None or not _is_training_process(job.pid):
        return None
    try:
        os.kill(job.pid, signal.SIGTERM)
    except ProcessLookupError:
        return None
    return job
