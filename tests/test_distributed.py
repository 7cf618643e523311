"""One run on two processes (``train --nproc 2``): the same training as one process, one run folder,
nothing listening beyond 127.0.0.1, and the processes agree on every ending (completed, failed, cancelled)."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.cli import build_parser, main
from core.cli.train import config_from_args, worker_arguments
from core.data import PROJECT_ROOT
from core.runs import list_runs, load_run
from core.synthetic import write_idx_dataset

# Plain SGD on an MLP (no dropout, no batch norm, no augmentation): a step on two halves of a batch,
# gradients averaged, is the step on the whole batch, so the two runs must follow the same path.
PLAIN = ["--model", "mlp", "--optimizer", "sgd", "--momentum", "0.9", "--lr", "0.05", "--batch-size", "32"]
PLAIN += ["--epochs", "2", "--threads", "1", "--log-every", "5", "--quiet"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data")
    write_idx_dataset(root, "mnist", train_count=1_200, test_count=300)
    return root


def train(*args: str, data_dir: Path, store: Path, timeout: int = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "core", "train", *args, "--data-dir", str(data_dir), "--checkpoints", str(store)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_two_processes_follow_the_path_of_one(data_dir, tmp_path):
    one = train(*PLAIN, "--run-id", "one", data_dir=data_dir, store=tmp_path)
    two = train(*PLAIN, "--run-id", "two", "--nproc", "2", data_dir=data_dir, store=tmp_path)
    assert one.returncode == 0 and two.returncode == 0, (one.stderr, two.stderr)
    assert sorted(s.id for s in list_runs(tmp_path)) == ["one", "two"]  # rank 1 wrote no run of its own
    assert two.stdout.strip() == str(tmp_path / "two")  # and printed nothing
    single, double = load_run("one", tmp_path).history(), load_run("two", tmp_path).history()
    assert [r["examples_seen"] for r in double] == [r["examples_seen"] for r in single]
    for a, b in zip(single, double, strict=True):
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-3)
        assert b["val_loss"] == pytest.approx(a["val_loss"], rel=1e-3)
        assert b["val_accuracy"] == pytest.approx(a["val_accuracy"], abs=0.011)  # one image of 100, at most
    status = load_run("two", tmp_path).status()
    assert status.state == "completed" and status.test_accuracy > 0.9


def test_two_processes_listen_on_127_0_0_1_only(data_dir, tmp_path):
    args = [*PLAIN, "--epochs", "30", "--run-id", "watched", "--nproc", "2"]
    command = [
        sys.executable,
        "-m",
        "core",
        "train",
        *args,
        "--data-dir",
        str(data_dir),
        "--checkpoints",
        str(tmp_path),
    ]
    launcher = subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_epoch(tmp_path, "watched", launcher)
        listening = _listening_while_training(launcher)
        # The store, and at least one process's gloo listener: how long gloo keeps its listeners open
        # after the processes have met varies, so the sockets are gathered over a few looks.
        assert len(listening) >= 2, listening
        assert {address for address, _ in listening} == {"127.0.0.1"}, listening
        launcher.send_signal(signal.SIGTERM)  # a cancel: every process stops, rank 0 keeps the best weights
        assert launcher.wait(timeout=60) != 0
    finally:
        launcher.kill()
    status = load_run("watched", tmp_path).status()
    assert status.state == "cancelled" and status.best_epoch >= 1


def test_a_diverging_loss_ends_every_process(data_dir, tmp_path):
    done = train(*PLAIN, "--lr", "100", "--run-id", "boom", "--nproc", "2", data_dir=data_dir, store=tmp_path)
    assert done.returncode == 1
    status = load_run("boom", tmp_path).status()
    assert status.state == "failed" and "smaller learning rate" in status.error


def test_across_machines_it_runs_under_torchrun(data_dir, tmp_path):
    with socket.socket() as probe:  # a free port for the rendezvous
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    endpoint = ["--nnodes", "1", "--rdzv-endpoint", f"127.0.0.1:{port}"]
    done = train(
        *PLAIN, "--epochs", "1", "--run-id", "rdzv", "--nproc", "2", *endpoint, data_dir=data_dir, store=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert [s.id for s in list_runs(tmp_path)] == ["rdzv"]
    assert load_run("rdzv", tmp_path).status().state == "completed"


def test_each_process_gets_the_same_config():
    parser = build_parser()
    given = ["train", "--preset", "quick", "--dataset", "fashion-mnist", "--lr", "0.02", "--no-augment"]
    args = parser.parse_args([*given, "--epochs", "3", "--run-id", "x", "--nproc", "2"])
    again = parser.parse_args(["train", *worker_arguments(args)])
    assert config_from_args(again) == config_from_args(args)
    assert again.nproc is None and again.run_id == "x"  # a process doesn't start processes of its own


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--nproc", "0"], "--nproc and --nnodes must be"),
        (["--nproc", "3", "--batch-size", "256"], "a multiple of the 3 processes"),
        (["--nproc", "2", "--nnodes", "2"], "needs --rdzv-endpoint"),
        (["--nproc", "2", "--lr", "-1"], "lr must be"),
    ],
)
def test_bad_launch_flags_are_one_message(flags, message, capsys):
    assert main(["train", "--preset", "quick", *flags]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.real_data
def test_two_processes_reach_the_accuracy_of_one_on_mnist(tmp_path):
    from core.data import default_data_dir, is_present

    if not is_present("mnist"):
        pytest.skip("MNIST is not fetched")
    runs = {}
    for name, extra in (("one", []), ("two", ["--nproc", "2"])):
        done = train("--preset", "quick", "--run-id", name, "--quiet", *extra, data_dir=default_data_dir(),
                     store=tmp_path, timeout=600)  # fmt: skip
        assert done.returncode == 0, done.stderr
        runs[name] = load_run(name, tmp_path).status().test_accuracy
    assert runs["two"] >= 0.989 and abs(runs["two"] - runs["one"]) <= 0.003, runs


def _wait_for_epoch(store: Path, run_id: str, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read()
        runs = [s for s in list_runs(store) if s.id == run_id]
        if runs and runs[0].epochs_done >= 1:
            return
        time.sleep(0.2)
    raise AssertionError("the first epoch never ended")


def _listening_while_training(launcher: subprocess.Popen, looks: int = 10) -> set[tuple[str, int]]:
    """Every (address, port) the launcher and its processes listened on, over ``looks`` looks 0.2 s apart."""
    seen = set()
    for _ in range(looks):
        seen |= set(_listening_addresses({launcher.pid, *_children(launcher.pid)}))
        time.sleep(0.2)
    return seen


def _children(pid: int) -> list[int]:
    """Every descendant of ``pid`` (Linux's /proc)."""
    found, parents = [], {pid}
    for entry in sorted(Path("/proc").iterdir(), key=lambda p: int(p.name) if p.name.isdigit() else 0):
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if parent in parents:
            found.append(int(entry.name))
            parents.add(int(entry.name))
    return found


def _listening_addresses(pids: set[int]) -> list[tuple[str, int]]:
    """(address, port) of every TCP socket the processes listen on, IPv4 and IPv6 (Linux's /proc)."""
    inodes = set()
    for pid in pids:
        try:
            links = [os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()]
        except OSError:
            continue
        inodes |= {link[8:-1] for link in links if link.startswith("socket:[")}
    listening = []
    for table, family in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                listening.append(_address(fields[1], family))
    return listening


def _address(text: str, family: int) -> tuple[str, int]:
    host, port = text.split(":")
    packed = bytes.fromhex(host)
    # /proc writes each 32-bit word in the machine's order (little-endian here).
    packed = b"".join(packed[i : i + 4][::-1] for i in range(0, len(packed), 4))
    address = socket.inet_ntop(family, packed)
    if address.startswith("::ffff:"):
        address = address[7:]
    return address, int(port, 16)


def test_the_ranks_shares_of_a_batch_are_its_images_once_each():
    import torch

    from core.distributed import Ranks

    ranks = [Ranks(rank, 3, rank, 3) for rank in range(3)]
    order = ranks[0].whole_batches(torch.randperm(100))
    assert len(order) == 99
    for batch in order.split(33):  # a batch size the process count divides (the launch insists on it)
        shares = [r.share(batch) for r in ranks]
        assert len({len(s) for s in shares}) == 1  # every rank the same number of images
        assert sorted(torch.cat(shares).tolist()) == sorted(batch.tolist())
