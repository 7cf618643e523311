"""Training jobs: ``python -m core train --run-dir …`` as a child process, one at a time per store.

The lock is a file in the checkpoints folder naming the run folder, the child's pid and a random
token; the child is started with the run folder and the token on its command line. It is taken with
O_EXCL (two clicks cannot both win), released by the child when it ends, and broken by the next
caller when its process is gone or is not that job any more (killed hard, machine restarted, pid
reused): a crash can't hold it forever, and neither Cancel nor the lock ever aims at a process that
only shares a pid with the job. Progress lives in the run folder, so any page, tab or user sees the
same job.

Cancel writes a request file in the run folder, then signals the child if it is ready (it writes its
token into status.json once its SIGTERM handler is in place); a child that is not ready yet reads the
request as it starts. Either way the run ends *cancelled*, never killed half-started.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
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
from core.runs import RUN_ID, Run, RunError, default_checkpoints_dir, now_iso, pid_alive
from core.standby import dismiss, prepare, send, take
from core.storage import UnsafeFile, atomic_write_json, describe_error, read_regular_file
from core.train import start_run

LOCK_FILE = ".training.lock"
LOG_FILE = "train.log"
CANCEL_FILE = ".cancel-requested"  # in the run folder
STANDBY_SETTING = "LENS_STANDBY"  # "0" in the environment: no standby process (core.standby)
MAX_LOCK_BYTES = 64 * 2**10  # the lock holds a run path, a pid and a token: well under 1 kB
STARTING_GRACE_S = 30  # a lock with no child yet, or unreadable, is someone's start in progress this long


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
    token: str = ""

    @property
    def run(self) -> Run:
        return Run(Path(self.run_path))

    def identity_args(self) -> list[str]:
        """What the child's command line carries, so that the job can be told from any other process."""
        return ["--run-dir", self.run_path, "--job-token", self.token]


def child_threads() -> int:
    """Torch threads for a job started from the dashboard: every core but one, so pages stay quick.

    Both cores were measured on 2 (README, "Threads"): the job alone is faster, but with a browser
    watching it train the second thread bought nothing, and a page's rerun beside it got slower."""
    return max(1, available_cores() - 1)


def _lock_path(root: Path) -> Path:
    return Path(root) / LOCK_FILE


def _read_lock(root: Path) -> Job | None:
    """The lock's job; None when unreadable or when it names a run outside this store."""
    try:
        values = json.loads(read_regular_file(_lock_path(root), MAX_LOCK_BYTES))
        job = Job(**values)
    except (OSError, UnsafeFile, ValueError, TypeError, RecursionError):
        return None
    if not all(isinstance(value, str) for value in (job.run_id, job.run_path, job.host, job.token)):
        return None
    if job.run_path and Path(job.run_path).parent.resolve() != Path(root).resolve():
        return None
    if job.run_id and not RUN_ID.match(job.run_id):  # shown on the Train page: a run id, nothing else
        return None
    if job.pid is not None and (isinstance(job.pid, bool) or not isinstance(job.pid, int) or job.pid <= 0):
        return None
    if isinstance(job.started, bool) or not isinstance(job.started, int | float):
        return None
    return job


def _is_job_process(job: Job) -> bool:
    """Whether the lock's pid is that job's process: its command line carries the job's token (a standby's
    names no run folder: it learnt it on its input)."""
    try:
        command = Path(f"/proc/{job.pid}/cmdline").read_bytes().split(b"\0")
    except FileNotFoundError:
        return False
    except OSError:
        return sys.platform != "linux"  # no /proc to ask: trust the pid
    wanted = [b"--job-token", os.fsencode(job.token)]
    return any(command[i : i + len(wanted)] == wanted for i in range(len(command)))


def _is_stale(job: Job) -> bool:
    if job.host != socket.gethostname():
        return False  # can't see another machine's processes; its heartbeat tells
    if job.pid is None:  # taken, child not started yet: give the starter a moment
        return time.time() - job.started > STARTING_GRACE_S
    return not pid_alive(job.pid) or not _is_job_process(job)


def active_job(root: Path | None = None) -> Job | None:
    """The job holding the store's lock, or None (a stale lock is removed)."""
    root = Path(root or default_checkpoints_dir())
    job = _read_lock(root)
    if job is None:
        _remove_if_old(_lock_path(root))
        return None
    if _is_stale(job):
        _lock_path(root).unlink(missing_ok=True)
        return None
    return job


def _remove_if_old(lock: Path) -> None:
    """An unreadable lock is a start in progress or the remains of a crash mid-write: gone after a grace."""
    try:
        if time.time() - lock.lstat().st_mtime > STARTING_GRACE_S:
            lock.unlink(missing_ok=True)
    except OSError:
        pass


def take_lock(root: Path) -> Job:
    """Create the lock file or raise JobBusy; O_EXCL makes two simultaneous callers have one winner."""
    job = Job("", "", None, socket.gethostname(), time.time(), secrets.token_hex(8))
    for _ in range(2):
        try:
            fd = os.open(_lock_path(root), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = active_job(root)  # removes the lock if it is stale
            if holder is not None:
                raise JobBusy(holder) from None
            continue
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump(job.__dict__, handle)
        except BaseException:  # a full disk: no empty lock left to block the next click
            _lock_path(root).unlink(missing_ok=True)
            raise
        return job
    raise JobBusy(_read_lock(root) or job)


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
    run_id: str | None = None,
) -> Job:
    """Validate, take the lock, create the run folder (named ``run_id``, else date-dataset-model) and start
    the child; returns at once.

    Raises ConfigError for bad values, RunError for a run name that can't be used, JobBusy when a job is
    already training, OSError when the store can't be written (the lock is never left behind).
    """
    config.validate()
    root = Path(root or default_checkpoints_dir())
    root.mkdir(parents=True, exist_ok=True)
    job = take_lock(root)  # before the run folder: a refused click leaves nothing behind
    return launch_locked(job, config, root, data_dir, command, run_id)


def release_taken_lock(root: Path) -> None:
    """Give back a lock taken with ``take_lock`` that no child was started under."""
    _lock_path(root).unlink(missing_ok=True)


def launch_locked(
    job: Job,
    config: TrainConfig,
    root: Path,
    data_dir: Path | None = None,
    command: list[str] | None = None,
    run_id: str | None = None,
) -> Job:
    """With the lock taken (``job``), create the run folder and start the child; the lock is never left
    behind when this fails."""
    try:
        run = start_run(config, root, run_id=run_id)
    except BaseException:
        _lock_path(root).unlink(missing_ok=True)
        raise
    return launch_locked_run(job, run, root, data_dir, command)


def launch_locked_run(
    job: Job, run: Run, root: Path, data_dir: Path | None = None, command: list[str] | None = None
) -> Job:
    """With the lock taken (``job``), start the child that trains the prepared ``run``."""
    try:
        job.run_id, job.run_path = run.id, str(run.path)
        # Until the child writes its own status (after importing torch), the run says it is starting.
        run.update_status(state="running", pid=None, host=job.host, heartbeat=time.time(), started=now_iso())
        child = _start_child(job, command, data_dir, root)
        job.pid = child.pid
        run.update_status(pid=child.pid)  # its live pid keeps the run running until the child's first beat
        atomic_write_json(_lock_path(root), job.__dict__)
    except BaseException:
        _lock_path(root).unlink(missing_ok=True)
        raise
    # Reap the child when it ends, so that a finished job never lingers as a zombie that looks alive.
    threading.Thread(target=child.wait, daemon=True).start()
    return job


def _start_child(job: Job, command: list[str] | None, data_dir: Path | None, root: Path):
    """The job's process (a ``subprocess.Popen``): the standby waiting for it (``core.standby``; the job
    takes its pid and token), else one started now."""
    run = job.run
    train = ["train", "--quiet", *(["--data-dir", str(data_dir)] if data_dir is not None else [])]
    env = child_environment(root)
    try:
        with open(run.path / LOG_FILE, "ab") as log:
            standby = take(root, env) if command is None and _standby_wanted() else None
            if standby is not None and _hand_to_standby(job, standby, [*train, "--run-dir", job.run_path], env, root):
                return standby.process
            return subprocess.Popen(
                [*(command or [sys.executable, "-m", "core", *train]), *job.identity_args()],
                cwd=PROJECT_ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
    except OSError as error:
        run.write_final_status("failed", error=f"the training process could not start: {describe_error(error)}")
        raise


def _hand_to_standby(job: Job, standby, argv: list[str], env: dict[str, str], root: Path) -> bool:
    """The lock names the standby first (a standby starts at once: its end, or a Cancel, must find the
    lock naming it), then the standby gets the job; False when it has died (the caller starts a process)."""
    job.pid, job.token = standby.process.pid, standby.token
    try:
        atomic_write_json(_lock_path(root), job.__dict__)
    except BaseException:
        dismiss(standby)
        raise
    if send(standby, argv, (job.run.path / LOG_FILE).resolve(), env):
        return True
    dismiss(standby)
    job.pid = None
    atomic_write_json(_lock_path(root), job.__dict__)  # starting again: no dead pid to call it stale
    return False


def child_environment(root: Path) -> dict[str, str]:
    """A job's environment: this process's, with the store it writes to."""
    return {**os.environ, "CHECKPOINTS_DIR": str(root)}


def _standby_wanted() -> bool:
    return os.environ.get(STANDBY_SETTING) != "0"


def prepare_standby(root: Path | None = None) -> None:
    """Start a training process ahead of the next job of store ``root`` (``core.standby``); returns at once.
    ``LENS_STANDBY=0`` in the environment: none, each job's process starts when the job does."""
    if not _standby_wanted():
        return
    root = Path(root or default_checkpoints_dir())
    prepare(root, child_environment(root), PROJECT_ROOT)


def cancel_job(root: Path | None = None) -> Job | None:
    """Ask the running job to stop: it marks its run cancelled and keeps its best weights so far.

    The request is written first, then the child is signalled if it is ready; a child still starting
    reads the request itself. Returns the job, or None when there is none to cancel.
    """
    job = active_job(root)
    if job is None or not job.run_path:
        return None
    with contextlib.suppress(OSError):  # a full or read-only disk: the signal alone, when the child is ready
        (Path(job.run_path) / CANCEL_FILE).touch()
    if job.pid is not None and _is_ready(job) and _is_job_process(job):
        try:
            os.kill(job.pid, signal.SIGTERM)
        except ProcessLookupError:
            return None
    return job


def _is_ready(job: Job) -> bool:
    """Whether the child has its SIGTERM handler in place (it then writes its token into status.json)."""
    try:
        return job.run.status().job_token == job.token
    except RunError:
        return False


def cancel_requested(run: Run) -> bool:
    return (run.path / CANCEL_FILE).exists()
