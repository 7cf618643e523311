"""Sweeps on a real PostgreSQL (the storage for workers on several machines): two workers share one sweep,
and the URL's password lands in no run's files and no output."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from core.data import PROJECT_ROOT
from core.runs import list_runs, load_run
from core.sweeps import create_sweep, sweep_summary
from tests.postgres import Server, server_binaries
from tests.test_sweeps import spec

PASSWORD = "pg-s3cret-never-shown"


@pytest.fixture(scope="module")
def postgres():
    binaries = server_binaries()
    if binaries is None:
        message = "PostgreSQL is not installed (`make test` installs Debian's postgresql as root)"
        if os.environ.get("REQUIRE_POSTGRES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    folder = Path(tempfile.mkdtemp(prefix="pg"))  # short: a Unix socket's path has at most 107 bytes
    server = Server(folder, binaries)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


def test_two_workers_share_a_sweep_in_postgresql(postgres, tmp_path):
    store, url = tmp_path / "runs", postgres.url(PASSWORD)
    outputs = [_cli("sweep", "create", "pg", "--dataset", "mnist", "--preset", "quick", "--trials", "6",
                    "--param", "lr=loguniform:0.001:0.3", "--param", "epochs=choice:1,2",
                    *_fast_settings(), "--storage", url, store=store).stdout]  # fmt: skip
    workers = [_worker("pg", url, store) for _ in range(2)]
    outputs += [worker.communicate(timeout=300)[0] for worker in workers]
    assert all(worker.returncode == 0 for worker in workers), outputs
    ran_by = [sum(line.startswith("pg-trial-") for line in output.splitlines()) for output in outputs[1:]]
    assert all(count >= 1 for count in ran_by), outputs  # both workers did some

    summary = sweep_summary("pg", store, url)
    numbers = [t["number"] for t in summary.trials]
    assert len(numbers) == len(set(numbers)) >= 6
    runs = sorted(s.id for s in list_runs(store))
    assert runs == sorted(t["run_id"] for t in summary.trials)  # every trial a run, none twice
    for trial in summary.trials:
        assert load_run(trial["run_id"], store).config.sweep["params"] == trial["params"]
    shown = _cli("sweep", "show", "pg", "--json", "--storage", url, store=store).stdout
    assert json.loads(shown)["best"]["value"] == summary.best["value"]
    _assert_password_nowhere(store, [*outputs, shown])


def test_a_sweep_in_postgresql_is_one_per_name(postgres, tmp_path):
    url = postgres.url()
    create_sweep(spec(name="once"), tmp_path, url)
    create = ["sweep", "create", "once", "--dataset", "mnist", "--param", "lr=loguniform:0.01:0.1"]
    again = _cli(*create, "--storage", postgres.url(PASSWORD), store=tmp_path, check=False)
    assert again.returncode == 2 and "exists already" in again.stderr
    missing = _cli("sweep", "show", "nope", "--storage", postgres.url(PASSWORD), store=tmp_path, check=False)
    assert missing.returncode == 2 and "no sweep named 'nope'" in missing.stderr
    refused = _cli("sweep", "show", "once", "--storage", postgres.url(PASSWORD, database="absent"), store=tmp_path,
                   check=False)  # fmt: skip
    assert refused.returncode == 2 and "can't open the sweep storage" in refused.stderr
    assert "Traceback" not in refused.stderr
    _assert_password_nowhere(tmp_path, [p.stdout + p.stderr for p in (again, missing, refused)])


def _fast_settings() -> list[str]:
    return ["--set", "train_subset=1200", "--set", "threads=1", "--set", "log_every=5"]


def _cli(*args: str, store: Path, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, "-m", "core", *args, "--checkpoints", str(store)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert not check or done.returncode == 0, done.stderr
    return done


def _worker(name: str, url: str, store: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "core", "sweep", "work", name, "--storage", url, "--checkpoints", str(store)],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _assert_password_nowhere(store: Path, outputs: list[str]) -> None:
    for output in outputs:
        assert PASSWORD not in output
    for path in store.rglob("*"):
        if path.is_file():
            assert PASSWORD.encode() not in path.read_bytes(), path
