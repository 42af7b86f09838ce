"""torch.distributed glue: DDP under ``torchrun`` (nccl on GPUs, gloo on CPU), or one process.

``torchrun --nproc-per-node 4 -m mlip.train config.yaml`` (or ``seimlip train``) sets RANK,
WORLD_SIZE and LOCAL_RANK; ``launch_local`` does the same with ``torch.multiprocessing`` for
CPU runs and tests.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

import torch
import torch.distributed as dist

from mlip.errors import UserError


@dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def pick_device(name: str, local_rank: int = 0) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("device: cuda requested but no CUDA device is available", "device")
    if name == "cuda" or (name == "auto" and torch.cuda.is_available()):
        return torch.device("cuda", local_rank % max(1, torch.cuda.device_count()))
    return torch.device("cpu")


def setup(device_name: str) -> DistInfo:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1); otherwise one process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo(device=pick_device(device_name))
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(device_name, local)
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend, rank=rank, world_size=world)
    return DistInfo(rank, world, local, device)


def teardown(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()


def all_sum(t: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Sum over ranks (through the training device: nccl reduces CUDA tensors only)."""
    if not info.enabled:
        return t
    work = t.detach().to(info.device, copy=True)
    dist.all_reduce(work, op=dist.ReduceOp.SUM)
    return work.to(t.device)


def all_max(value: float, info: DistInfo) -> float:
    if not info.enabled:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=info.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return float(t.item())


def broadcast_object(obj, info: DistInfo):
    if not info.enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, config_data: dict, resume: bool, threads: int) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    torch.set_num_threads(threads)
    from mlip.train.config import TrainConfig
    from mlip.train.loop import train

    train(TrainConfig.model_validate(config_data), resume=resume)


def launch_local(config, nprocs: int, resume: bool = False, threads_per_process: int = 1) -> None:
    """Run ``train(config)`` in ``nprocs`` local processes (gloo on CPU): torchrun without torchrun."""
    import torch.multiprocessing as mp

    mp.spawn(_worker, args=(nprocs, _free_port(), config.model_dump(mode="json"), resume, threads_per_process),
             nprocs=nprocs, join=True)
