"""A training process started before the click: torch and its compiler already imported, waiting for a job.

A job's process spends its first 3–4 s importing torch and ``torch._dynamo`` (which every optimiser
imports), a third of a quick run from the page. So the Train page starts one process ahead
(``prepare``); when the next job starts (``core.jobs``), that process receives the job's command line
on its standard input and is the job from then on: the same command, the same log, the same lock,
cancel and token as a process started for it. A standby that can't take the job (it died, its pipe is
broken, the environment changed) is let go and the job gets a process of its own, as before.

One standby at a time per server (it holds about 370 MB beyond what it shares with the server), let go
when nobody has asked for one for ``IDLE_S``, and when the server ends: it exits when its standard
input closes, so it never outlives the process that made it.

The process: ``python -m core train --standby --job-token TOKEN``; ``await_job`` on its side. A job
takes it in two steps (``take``, then ``send``), so that the job's lock can name the process before
the process can start training, end, or be asked to cancel.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

IDLE_S = 600.0  # a standby nobody asked for this long is let go
FAILED_START_S = 60.0  # a standby that exits with an error sooner failed to import what it preloads
MAX_REQUEST_BYTES = 16 << 20  # a job's command line and environment (the kernel's limit for both is smaller)
# What a training process imports before its first step, in the order it needs them.
PRELOAD = ("core.train", "core.cli.train", "core.distributed", "torch._dynamo")


@dataclass
class Standby:
    process: subprocess.Popen
    token: str
    root: Path
    environment: dict[str, str]
    wanted: float = field(default_factory=time.monotonic)  # the last time a page asked for it
    started: float = field(default_factory=time.monotonic)

    def alive(self) -> bool:
        return self.process.returncode is None  # set by the reaper thread when it exits

    def can_take(self, root: Path, environment: dict[str, str]) -> bool:
        """Whether it is alive and started as a job of store ``root`` with ``environment`` would be.

        Variables added since it started are fine (it sets them before the job): libraries the server
        imports add some (e.g. MPLBACKEND), and none of those acts at a process's start. A variable
        changed or removed since is not: it may have, for torch's import."""
        same_environment = all(environment.get(name) == value for name, value in self.environment.items())
        return self.alive() and self.root == Path(root).resolve() and same_environment


_lock = threading.Lock()
_standby: Standby | None = None
_gave_up = False  # a standby died before any job: this machine can't keep one; plain starts only


def prepare(root: Path, environment: dict[str, str], project_root: Path) -> None:
    """Have a standby ready for jobs of store ``root`` started with ``environment`` (returns at once)."""
    global _standby
    root = Path(root).resolve()
    with _lock:
        if _standby is not None and _standby.can_take(root, environment):
            _standby.wanted = time.monotonic()
            return
        _let_go(_standby)
        if not _gave_up:
            _standby = _start(root, environment, project_root)


def _start(root: Path, environment: dict[str, str], project_root: Path) -> Standby | None:
    token = secrets.token_hex(8)
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "core", "train", "--standby", "--job-token", token],
            cwd=project_root,
            env=environment,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # as a job's own process: a Ctrl-C in the server's terminal is not for it
        )
    except OSError:
        return None
    standby = Standby(process, token, root, environment)
    threading.Thread(target=_reap, args=(standby,), daemon=True).start()
    threading.Thread(target=_let_go_when_idle, args=(standby,), daemon=True).start()
    return standby


def _reap(standby: Standby) -> None:
    """Wait for the process (a finished job never lingers as a zombie). One that failed while starting
    means this machine can't keep one: give up (one killed later is simply replaced at the next ask)."""
    global _gave_up
    code = standby.process.wait()
    with _lock:
        if standby is _standby and code != 0 and time.monotonic() - standby.started < FAILED_START_S:
            _gave_up = True


def _let_go_when_idle(standby: Standby) -> None:
    while True:
        with _lock:
            if standby is not _standby:
                return  # taken, or replaced
            idle = time.monotonic() - standby.wanted
            if idle >= IDLE_S:
                _let_go(standby)
                return
        time.sleep(IDLE_S - idle)


def _let_go(standby: Standby | None) -> None:
    """Close its input: a standby that has no job ends (under ``_lock``)."""
    global _standby
    if standby is None:
        return
    if standby is _standby:
        _standby = None
    dismiss(standby)


def take(root: Path, environment: dict[str, str]) -> Standby | None:
    """The waiting standby, now reserved for a job of store ``root`` run with ``environment`` (nobody else
    gets it); None when there is none that can take it. Then ``send`` the job, or ``dismiss`` it."""
    global _standby
    with _lock:
        standby = _standby
        if standby is None or not standby.alive():  # a dead one stays, for its reaper to judge
            return None
        _standby = None
        if not standby.can_take(root, environment):
            _let_go(standby)
            return None
    return standby


def send(standby: Standby, argv: list[str], log: Path, environment: dict[str, str]) -> bool:
    """Give the job to a standby from ``take``: ``argv`` is its ``python -m core`` command line (the
    standby's ``--job-token`` is added here), ``log`` the file for its output. False when it has died."""
    request = {"argv": [*argv, "--job-token", standby.token], "log": str(log), "environment": environment}
    try:
        standby.process.stdin.write(json.dumps(request).encode() + b"\n")
        standby.process.stdin.close()
    except OSError:  # a broken pipe: it died since
        return False
    return True


def dismiss(standby: Standby) -> None:
    """A standby from ``take`` that won't get its job: it ends."""
    with contextlib.suppress(OSError):
        standby.process.stdin.close()


def await_job() -> tuple[list[str], Path] | None:
    """In the standby: import what training needs, then wait for the job; None when the server lets it go.
    The job's environment (``can_take``) becomes this process's."""
    import importlib

    for module in PRELOAD:
        importlib.import_module(module)
    line = sys.stdin.buffer.readline(MAX_REQUEST_BYTES)
    if not line:
        return None
    request = json.loads(line)
    argv, log, environment = request["argv"], request["log"], request["environment"]
    if not (_strings(argv) and isinstance(log, str) and _strings(environment) and _strings(environment.values())):
        raise ValueError("a standby's request is a list of arguments, a log path and an environment")
    os.environ.update(environment)
    return argv, Path(log)


def _strings(values) -> bool:
    return isinstance(values, list | dict | type({}.values())) and all(isinstance(value, str) for value in values)


def write_output_to(log: Path) -> None:
    """From now on, this process's standard output and error go to ``log`` (appended), as a job's do."""
    descriptor = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(descriptor, sys.stdout.fileno())
    os.dup2(descriptor, sys.stderr.fileno())
    os.close(descriptor)
