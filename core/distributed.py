"""One run on several processes or GPUs: PyTorch's DistributedDataParallel, torchrun's way.

``python -m core train --nproc N`` starts N copies of the same ``train`` command: on one machine with
``launch_here`` (torchrun's contract, bound to 127.0.0.1), across machines under ``torch.distributed.run``
(``launch_command``); each copy finds its place in the environment they set (``Ranks.from_environment``).
Every rank holds the same seeded order of the training split and trains on its share of each batch
(``share``); DistributedDataParallel averages the gradients, so a step sees the whole batch, as one
process would. Losses, counts and the validation split are summed
across ranks, so every rank takes the same decisions (a diverging loss, the kept epoch); only rank 0
writes the run folder and prints.

torch.distributed has no authentication: on one machine everything binds to 127.0.0.1; across
machines, the rendezvous endpoint is given explicitly and must be on a network you trust.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass

import torch
import torch.distributed as dist

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class Ranks:
    """This process's place among the training processes."""

    rank: int  # 0 … world - 1, across machines
    world: int  # processes in all
    local_rank: int  # on this machine: which GPU it takes
    local_world: int  # processes on this machine: how they share its cores

    @classmethod
    def from_environment(cls) -> Ranks | None:
        """The ranks torchrun set for this process, or None for a plain single process."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world < 2:
            return None
        return cls(
            rank=int(os.environ["RANK"]),
            world=world,
            local_rank=int(os.environ.get("LOCAL_RANK", "0")),
            local_world=int(os.environ.get("LOCAL_WORLD_SIZE", str(world))),
        )

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def require_even_shares(self, batch_size: int) -> None:
        """ConfigError unless every rank's share of every batch is the same size: the gradients are averaged
        over the ranks, which weighs each image alike only then."""
        require_even_shares(batch_size, self.world)

    def start(self, device: torch.device) -> torch.device:
        """Join the process group (NCCL on GPUs, gloo on the CPU); returns this rank's device."""
        if device.type == "cuda":
            device = torch.device("cuda", self.local_rank)
            torch.cuda.set_device(device)
        if not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        return device

    def stop(self) -> None:
        if dist.is_initialized():
            dist.destroy_process_group()

    def wrap(self, model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
        """The model as DistributedDataParallel: backward averages the gradients across ranks."""
        from torch.nn.parallel import DistributedDataParallel

        ids = [device.index] if device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids)

    def whole_batches(self, order: torch.Tensor) -> torch.Tensor:
        """The epoch's order cut to a multiple of the process count, so that every rank's share of every
        batch is the same size (at most ``world - 1`` images wait for the next epoch)."""
        return order[: len(order) - len(order) % self.world]

    def share(self, batch: torch.Tensor) -> torch.Tensor:
        """This rank's part of a batch of indices."""
        return batch[self.rank :: self.world]

    def sums(self, *values: float) -> list[float]:
        """Each value summed over every rank."""
        total = torch.tensor(values, dtype=torch.float64, device=_collective_device())
        dist.all_reduce(total)
        return total.tolist()

    def agree(self, decision: bool) -> bool:
        """Rank 0's decision, on every rank (a callback that only rank 0 runs asked to stop)."""
        flag = torch.tensor([int(decision)], device=_collective_device())
        dist.broadcast(flag, src=0)
        return bool(flag.item())

    def same_buffers(self, model: torch.nn.Module) -> None:
        """Rank 0's batch-norm statistics on every rank, so that every rank validates the same model."""
        for buffer in model.buffers():
            dist.broadcast(buffer, src=0)


def require_even_shares(batch_size: int, processes: int) -> None:
    from core.config import ConfigError

    if batch_size % processes:
        raise ConfigError(
            f"the batch size ({batch_size}) must be a multiple of the {processes} processes, so that each takes an "
            f"equal share: e.g. {batch_size - batch_size % processes or processes}"
        )


def _collective_device() -> torch.device:
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def launch_here(worker_args: list[str], nproc: int) -> int:
    """``nproc`` training processes on this machine, everything bound to 127.0.0.1; their exit status.

    torchrun's agent would do the same, but its rendezvous stores listen on every network interface
    (a TCPStore has no bind address), and torch.distributed has no authentication. So this launcher is a
    small agent of the same contract: it hosts the store on a loopback socket it binds itself and starts
    the workers with torchrun's environment (``TORCHELASTIC_USE_AGENT_STORE``: every rank a client)."""
    listener = socket.create_server((LOOPBACK, 0))
    port = listener.getsockname()[1]
    # The store takes the socket over (and closes it when it goes).
    store = dist.TCPStore(LOOPBACK, port, is_master=True, wait_for_workers=False, master_listen_fd=listener.detach())
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "core", "train", *worker_args], env=_worker_environment(rank, nproc, port)
        )
        for rank in range(nproc)
    ]
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: _signal_all(workers, signum))
    try:
        return _wait_for_all(workers)
    except KeyboardInterrupt:  # Ctrl-C reached the workers too (one process group): let them end as cancelled
        return _wait_for_all(workers)
    finally:
        signal.signal(signal.SIGTERM, previous)
        del store


def _worker_environment(rank: int, nproc: int, port: int) -> dict[str, str]:
    env = launch_environment(nproc, nnodes=1)
    env.update(
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(nproc),
        LOCAL_WORLD_SIZE=str(nproc),
        MASTER_ADDR=LOOPBACK,
        MASTER_PORT=str(port),
        TORCHELASTIC_USE_AGENT_STORE="True",
    )
    return env


def _wait_for_all(workers: list[subprocess.Popen]) -> int:
    """Every worker's end; the first to fail stops the others (they would wait for it forever)."""
    status = 0
    while any(worker.poll() is None for worker in workers):
        failed = [w.returncode for w in workers if w.returncode not in (None, 0)]
        if failed and not status:
            status = failed[0]
            _signal_all(workers, signal.SIGTERM)
        time.sleep(0.2)
    return status or next((w.returncode for w in workers if w.returncode), 0)


def _signal_all(workers: list[subprocess.Popen], signum: int) -> None:
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signum)


def launch_command(worker_args: list[str], nproc: int, nnodes: int, endpoint: str, run_name: str) -> list[str]:
    """torchrun's command line for a run across machines (or wherever a rendezvous endpoint is given)."""
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(nproc)]
    command += ["--nnodes", str(nnodes), "--rdzv-backend", "c10d", "--rdzv-endpoint", endpoint]
    command += ["--rdzv-id", run_name]
    return [*command, "--module", "core", "train", *worker_args]


def launch_environment(nproc: int, nnodes: int) -> dict[str, str]:
    """The workers' environment: the machine's cores shared out (torchrun would give each process one), and
    on one machine gloo's connections bound to the loopback interface."""
    from core.devices import available_cores

    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", str(max(1, available_cores() // nproc)))
    if nnodes == 1 and "GLOO_SOCKET_IFNAME" not in env:
        loopback = next((name for _, name in socket.if_nameindex() if name.startswith("lo")), None)
        if loopback:
            env["GLOO_SOCKET_IFNAME"] = loopback
    return env
