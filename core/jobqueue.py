"""The training queue: jobs wait on disk, in order, and run one at a time per checkpoints folder.

    job, ahead = submit(config, root)     # started at once (ahead == 0), or queued behind ``ahead`` others
    queued_jobs(root)                     # what waits, in order
    move_queued(root, entry_id, -1)       # one place earlier; remove_queued(root, entry_id) drops it

Each waiting job is one JSON file in ``<checkpoints>/.queue/``, named by its place in the order, so the
queue survives a restart and every dashboard process (and the CLI) sees the same one. Changes to the
order are made under an exclusive ``flock`` of the folder's lock file. The store's training lock
(``core.jobs``) still says which job runs: ``start_next`` takes it, pops the head and starts that job.
A job that ends starts the next itself (``core.cli.train``); a job killed hard can't, so anyone who
looks at the queue (the Train page, ``submit``) starts the next when the store is idle.

What is read back is validated at the edge (a TrainConfig, a plain run name); an entry that isn't is
set aside as ``*.unreadable`` and named, never run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from core.config import ConfigError, TrainConfig
from core.jobs import Job, JobBusy, active_job, launch_locked, release_taken_lock, take_lock
from core.runs import default_checkpoints_dir
from core.storage import UnsafeFile, atomic_write_json, read_regular_file

QUEUE_FOLDER = ".queue"
QUEUE_LOCK = ".lock"
MAX_ENTRY_BYTES = 64 * 2**10
MAX_QUEUED = 1_000


@dataclass
class QueuedJob:
    id: str  # a random token: what Cancel and Move name
    order: int  # its place: smaller runs first
    config: TrainConfig
    run_id: str | None
    data_dir: str | None
    queued_at: float
    sweep: str | None = None  # a sweep's trial: its values are drawn when it starts (core.sweeps)

    @property
    def file_name(self) -> str:
        return f"{self.order:020d}-{self.id}.json"


def _folder(root: Path) -> Path:
    return Path(root) / QUEUE_FOLDER


@contextlib.contextmanager
def _queue_locked(root: Path) -> Iterator[Path]:
    """The queue folder, held exclusively: two processes never reorder or pop at once."""
    folder = _folder(root)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / QUEUE_LOCK, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield folder
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def queued_jobs(root: Path | None = None) -> list[QueuedJob]:
    """The waiting jobs, first to run first."""
    folder = _folder(Path(root or default_checkpoints_dir()))
    if not folder.is_dir():
        return []
    entries = [_read_entry(path) for path in sorted(folder.glob("*.json"))]
    return [entry for entry in entries if entry is not None]


def _read_entry(path: Path) -> QueuedJob | None:
    """A queue file as a QueuedJob; a damaged one is renamed ``*.unreadable`` and skipped."""
    try:
        values = json.loads(read_regular_file(path, MAX_ENTRY_BYTES))
        order, entry_id = path.stem.split("-", 1)
        config = TrainConfig.from_dict(values["config"])
        config.validate()
        run_id, data_dir, sweep = values.get("run_id"), values.get("data_dir"), values.get("sweep")
        if not all(value is None or isinstance(value, str) for value in (run_id, data_dir, sweep)):
            raise ValueError("run_id, data_dir and sweep must be texts")
        return QueuedJob(entry_id, int(order), config, run_id, data_dir, float(values.get("queued_at", 0)), sweep)
    except FileNotFoundError:
        return None  # popped or removed while we listed
    except (OSError, UnsafeFile, ValueError, KeyError, TypeError, ConfigError, RecursionError):
        with contextlib.suppress(OSError):
            path.rename(path.with_suffix(".unreadable"))
        return None


def enqueue(
    config: TrainConfig,
    root: Path | None = None,
    data_dir: Path | None = None,
    run_id: str | None = None,
    sweep: str | None = None,
) -> QueuedJob:
    """Add a job at the end of the queue (validated first: a bad value is refused now, not when it runs)."""
    config.validate()
    root = Path(root or default_checkpoints_dir())
    with _queue_locked(root) as folder:
        waiting = queued_jobs(root)
        if len(waiting) >= MAX_QUEUED:
            raise ConfigError(f"the queue holds {MAX_QUEUED} jobs already; cancel some first")
        order = max([entry.order for entry in waiting], default=0) + 1
        order = max(order, time.time_ns() // 1000)
        entry = QueuedJob(secrets.token_hex(6), order, config, run_id, _text(data_dir), time.time(), sweep)
        values = {"config": config.to_dict(), "run_id": run_id, "data_dir": entry.data_dir, "sweep": sweep}
        atomic_write_json(folder / entry.file_name, {**values, "queued_at": entry.queued_at})
    return entry


def _text(path: Path | None) -> str | None:
    return None if path is None else str(path)


def remove_queued(root: Path | None, entry_id: str) -> bool:
    """Drop a waiting job; False when it is no longer waiting (started, or removed by someone else)."""
    root = Path(root or default_checkpoints_dir())
    with _queue_locked(root):
        for entry in queued_jobs(root):
            if entry.id == entry_id:
                (_folder(root) / entry.file_name).unlink(missing_ok=True)
                return True
    return False


def move_queued(root: Path | None, entry_id: str, offset: int) -> bool:
    """Move a waiting job ``offset`` places (-1: one earlier); False when it can't move that way."""
    root = Path(root or default_checkpoints_dir())
    with _queue_locked(root) as folder:
        waiting = queued_jobs(root)
        positions = [i for i, entry in enumerate(waiting) if entry.id == entry_id]
        if not positions or not 0 <= positions[0] + offset < len(waiting):
            return False
        moved = waiting.pop(positions[0])
        waiting.insert(positions[0] + offset, moved)
        # The same order numbers, handed out in the new order: each file whose number changes is renamed.
        for order, entry in zip(sorted(e.order for e in waiting), waiting, strict=True):
            if entry.order != order:
                renamed = dataclasses.replace(entry, order=order)
                os.rename(folder / entry.file_name, folder / renamed.file_name)
    return True


def start_next(root: Path | None = None, command: list[str] | None = None) -> Job | None:
    """If no job is training here and one waits, start the first; returns the job started, or None.

    A job that can't start (its sweep gone, its config refused) is set aside as ``*.unreadable`` and the
    next one tried; one that fails otherwise (a full disk) is set aside too, and the error raised."""
    root = Path(root or default_checkpoints_dir())
    while queued_jobs(root):
        try:
            lock = take_lock(root)
        except JobBusy:
            return None
        head = _take_head(root)
        if head is None:  # someone else took the last one between our two looks
            release_taken_lock(root)
            return None
        try:
            job = _launch(lock, head, root, command)  # gives the lock back whenever it raises
        except ConfigError:
            _set_aside(root, head)
            continue
        except BaseException:
            _set_aside(root, head)
            raise
        (_folder(root) / _starting(head)).unlink(missing_ok=True)
        if job is not None:
            return job  # else a sweep that has all its trials: the next job's turn
    return None


def _take_head(root: Path) -> QueuedJob | None:
    """The first waiting job, its file renamed ``*.starting`` (no longer waiting; kept should it not start)."""
    with _queue_locked(root) as folder:
        waiting = queued_jobs(root)
        if not waiting:
            return None
        (folder / waiting[0].file_name).rename(folder / _starting(waiting[0]))
        return waiting[0]


def _launch(lock: Job, head: QueuedJob, root: Path, command: list[str] | None) -> Job | None:
    data_dir = Path(head.data_dir) if head.data_dir else None
    if head.sweep:
        from core.sweeps import launch_trial

        return launch_trial(lock, head.sweep, root, data_dir, command)
    # A name taken since it was queued: the run gets the usual date-dataset-model name instead.
    run_id = head.run_id if head.run_id and not (root / head.run_id).exists() else None
    return launch_locked(lock, head.config, root, data_dir, command, run_id)


def _set_aside(root: Path, entry: QueuedJob) -> None:
    folder = _folder(root)
    with contextlib.suppress(OSError):
        (folder / _starting(entry)).rename((folder / entry.file_name).with_suffix(".unreadable"))


def _starting(entry: QueuedJob) -> str:
    """The name of a queue file while its job starts (not a ``*.json``: no longer waiting)."""
    return entry.file_name.removesuffix(".json") + ".starting"


def submit(
    config: TrainConfig,
    root: Path | None = None,
    data_dir: Path | None = None,
    run_id: str | None = None,
    command: list[str] | None = None,
) -> tuple[Job | None, int]:
    """Queue a job, and start the queue's head if the store is idle.

    Returns (the job, 0) when this one started at once, else (None, how many jobs run or wait before it).
    """
    entry = enqueue(config, root, data_dir, run_id)
    started = start_next(root, command)
    waiting = [e.id for e in queued_jobs(root)]
    if entry.id not in waiting:  # it was the head: started now
        return started, 0
    return None, waiting.index(entry.id) + (1 if active_job(root) is not None else 0)
