"""Training on several processes (torchrun): DistributedDataParallel over gloo on the CPU, nccl on GPUs.

`torchrun --nproc_per_node=N -m core.studies.transfer ...` starts N copies of a trainer; each joins the process
group here, reads its share of every training epoch (a DistributedSampler), and DDP averages the gradients, so
the N processes together take the steps one process takes with the whole batch. Only rank 0 writes to the run
store and the checkpoints. Without torchrun (WORLD_SIZE unset) everything here is a no-op."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import Dataset, DistributedSampler

T = TypeVar("T")


def world() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def is_main() -> bool:
    return rank() == 0


def init(device: torch.device) -> torch.device:
    """Join the process group when started by torchrun (gloo on the CPU, nccl on CUDA, one GPU per process by
    LOCAL_RANK); the device this process trains on."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return device
    if device.type == "cuda":
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return device


def close() -> None:
    """Leave the group. A DDP module still alive at that moment, or a process leaving while another is still in
    a collective, sometimes aborts the process at exit (gloo: "terminate called without an active exception");
    so the DDP modules no longer referenced are collected first, and every process waits for the others."""
    if dist.is_available() and dist.is_initialized():
        import gc

        gc.collect()
        dist.barrier()
        dist.destroy_process_group()


def share(compute: Callable[[], T]) -> T:
    """compute() on rank 0 (queueing runs, say), its result handed to every process; an error there is raised on
    every process, so none waits for the others in vain. Without torchrun: compute()."""
    if world() == 1:
        return compute()
    box: list[object] = [None]
    if is_main():
        try:
            box = [("ok", compute())]
        except Exception as exc:  # every process raises it: the others would otherwise wait forever
            box = [("error", exc)]
    dist.broadcast_object_list(box, src=0)
    kind, value = box[0]  # type: ignore[misc]
    if kind == "error":
        raise value  # type: ignore[misc]
    return value  # type: ignore[return-value]


def per_process_batch(batch_size: int) -> int:
    """Each process's share of a step's batch (the batch must divide evenly)."""
    n = world()
    if batch_size % n:
        raise ValueError(f"batch size {batch_size} does not divide among {n} processes: choose a multiple of {n}")
    return batch_size // n


def train_sampler(dataset: Dataset, seed: int) -> DistributedSampler:
    """This process's share of each epoch's shuffled order (one process: the whole order). The same seed gives the
    same order whatever the number of processes: step k reads the same images in total."""
    return DistributedSampler(dataset, num_replicas=world(), rank=rank(), shuffle=True, seed=seed, drop_last=False)


def wrap(module: nn.Module, device: torch.device) -> nn.Module:
    """DDP around the module when distributed (built again whenever the trainable set changes: DDP only syncs
    the parameters that were trainable when it was built)."""
    if world() == 1:
        return module
    return nn.parallel.DistributedDataParallel(module, device_ids=[device.index] if device.type == "cuda" else None)


def total(*values: float) -> list[float]:
    """Sums over the processes (a training loss and its sample count)."""
    if world() == 1:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(t)
    return t.tolist()


class ShardedBatches(torch.utils.data.Sampler):
    """A sampler that draws whole batches (people per batch, for a verification loss), shared out: the base order
    is cut in batches of `batch` as one process would take them, and this process takes its own slice of each.
    The slices, gathered in rank order, are that process's batch again (see gather). A last partial batch is cut
    to a multiple of the world size, so every process takes as many steps with slices of one size."""

    def __init__(self, base: torch.utils.data.Sampler, batch: int) -> None:
        self.base, self.batch, self.world, self.rank = base, batch, world(), rank()

    def _slices(self, n: int) -> list[tuple[int, int]]:
        out = []
        for start in range(0, n, self.batch):
            size = min(self.batch, n - start) // self.world
            if size:
                out.append((start + self.rank * size, start + (self.rank + 1) * size))
        return out

    def __iter__(self):
        order = list(self.base)  # the same on every process: the base sampler draws from the same seed
        for a, b in self._slices(len(order)):
            yield from order[a:b]

    def __len__(self) -> int:
        return sum(b - a for a, b in self._slices(len(self.base)))


class _Gather(torch.autograd.Function):
    """All processes' rows (equal counts) in rank order; backward sums each row's gradient over the processes (each
    computed the same loss from every row) and hands a process its own rows'."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        parts = [torch.empty_like(x) for _ in range(world())]
        dist.all_gather(parts, x.contiguous())
        ctx.rows = x.shape[0]
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous().clone()
        dist.all_reduce(grad)
        return grad[rank() * ctx.rows:(rank() + 1) * ctx.rows]


def gather(x: torch.Tensor) -> torch.Tensor:
    """Every process's rows of x, in rank order (one process: x itself). Gradients flow back to each process's
    own rows, so a loss over the whole batch (every pair of it) trains as in one process."""
    if world() == 1:
        return x
    if x.requires_grad:
        return _Gather.apply(x)
    parts = [torch.empty_like(x) for _ in range(world())]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts)
