"""torch.distributed: xloss's loss in 2 processes (gloo backend, loopback), against 1 process.

Each rank takes half of the batch through a ``DistributedDataParallel``-wrapped ``nn.Linear``
and xloss's ``SparseCategoricalCrossentropy(from_logits=True)``. The ranks' mean losses,
all-reduced and averaged, equal the single-process loss on the whole batch, and the gradients
DDP all-reduces equal the single-process gradients. With ignored labels the ranks' means do not
average to the global mean (each divides by its own count), so the recipe there is
``reduction="sum"`` over an all-reduced count of valid labels, times the world size for the
backward pass (DDP averages gradients over the ranks): values and gradients are checked too.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from checks import tolerance

import xloss

torch = pytest.importorskip("torch")
distributed = pytest.importorskip("torch.distributed")
if not distributed.is_available() or not distributed.is_gloo_available():
    pytest.skip("torch.distributed with gloo is not available", allow_module_level=True)

WORLD = 2
N, D, C = 12, 5, 7
IGNORE = -100
RNG = np.random.default_rng(2026)
FEATURES = RNG.normal(size=(N, D)).astype(np.float32)
LABELS = RNG.integers(0, C, size=N)
IGNORED = LABELS.copy()
IGNORED[[0, 1, 2, 9]] = IGNORE  # 3 of them on rank 0, 1 on rank 1: unequal counts
WEIGHT = RNG.normal(size=(C, D)).astype(np.float32)
BIAS = RNG.normal(size=C).astype(np.float32)

WORKER = textwrap.dedent(
    """
    import os, sys
    import numpy as np
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel
    import xloss

    data, out = sys.argv[1], sys.argv[2]
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    dist.init_process_group("gloo", rank=rank, world_size=world)  # env://: MASTER_ADDR/PORT
    arrays = np.load(data)
    rows = slice(rank * len(arrays["labels"]) // world, (rank + 1) * len(arrays["labels"]) // world)
    x = torch.from_numpy(arrays["features"][rows])

    def model():
        linear = torch.nn.Linear(*arrays["weight"].shape[::-1])
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(arrays["weight"]))
            linear.bias.copy_(torch.from_numpy(arrays["bias"]))
        return DistributedDataParallel(linear)

    # 1. the mean loss: all-reduce the ranks' means, divide by the world size
    ddp = model()
    loss = xloss.SparseCategoricalCrossentropy(from_logits=True)(
        torch.from_numpy(arrays["labels"][rows]), ddp(x)
    )
    loss.backward()  # DDP averages the gradients over the ranks
    mean = loss.detach().clone()
    dist.all_reduce(mean)
    mean /= world

    # 2. with ignored labels: the ranks' sums over the all-reduced count of valid labels; DDP
    # averages gradients, so each rank's loss is scaled by the world size
    ignored_ddp = model()
    labels = torch.from_numpy(arrays["ignored"][rows])
    total = xloss.SparseCategoricalCrossentropy(
        from_logits=True, ignore_class=int(arrays["ignore"]), reduction="sum"
    )(labels, ignored_ddp(x))
    count = (labels != int(arrays["ignore"])).sum().to(total.dtype)
    dist.all_reduce(count)
    (total * world / count).backward()
    ignored_mean = total.detach().clone()
    dist.all_reduce(ignored_mean)
    ignored_mean /= count

    module = ddp.module
    np.savez(
        f"{out}/rank{rank}.npz",
        mean=mean.numpy(),
        weight_grad=module.weight.grad.numpy(),
        bias_grad=module.bias.grad.numpy(),
        ignored_mean=ignored_mean.numpy(),
        ignored_weight_grad=ignored_ddp.module.weight.grad.numpy(),
        ignored_bias_grad=ignored_ddp.module.bias.grad.numpy(),
    )
    del ddp, ignored_ddp, module  # DDP's reducers before the process group
    dist.barrier()
    dist.destroy_process_group()
    # The results are written. Skip the interpreter's teardown, where gloo's threads can hit
    # "terminate called without an active exception" (seen once in CI, after a passing run).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
    """
)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    """Both ranks' results (one run for the module)."""
    out = tmp_path_factory.mktemp("torch_distributed")
    data = out / "data.npz"
    np.savez(
        data,
        features=FEATURES,
        labels=LABELS,
        ignored=IGNORED,
        ignore=IGNORE,
        weight=WEIGHT,
        bias=BIAS,
    )
    env = dict(
        os.environ,
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(_free_port()),
        WORLD_SIZE=str(WORLD),
        GLOO_SOCKET_IFNAME="lo",  # loopback only
        OMP_NUM_THREADS="1",
    )
    logs = [out / f"rank{rank}.log" for rank in range(WORLD)]
    with contextlib.ExitStack() as files:
        workers = [
            subprocess.Popen(
                [sys.executable, "-c", WORKER, str(data), str(out)],
                env={**env, "RANK": str(rank)},
                stdout=subprocess.DEVNULL,
                stderr=files.enter_context(log.open("w")),
            )
            for rank, log in enumerate(logs)
        ]
        deadline = time.monotonic() + 120
        try:
            # A rank that fails leaves the other waiting for it: stop at the first failure.
            while any(w.poll() is None for w in workers) and time.monotonic() < deadline:
                if any(w.poll() not in (None, 0) for w in workers):
                    break
                time.sleep(0.05)
        finally:
            for worker in workers:
                if worker.poll() is None:
                    worker.kill()
                    worker.wait()
    for rank, worker in enumerate(workers):
        assert worker.returncode == 0, f"rank {rank}:\n{logs[rank].read_text()[-4000:]}"
    return [dict(np.load(out / f"rank{rank}.npz")) for rank in range(WORLD)]


def _single_process():
    """The loss and gradients of one process on the whole batch."""
    linear = torch.nn.Linear(D, C)
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(WEIGHT))
        linear.bias.copy_(torch.from_numpy(BIAS))
    logits = linear(torch.from_numpy(FEATURES))
    loss = xloss.SparseCategoricalCrossentropy(from_logits=True)(torch.from_numpy(LABELS), logits)
    loss.backward()
    result = {
        "mean": loss.detach().numpy(),
        "weight_grad": linear.weight.grad.numpy().copy(),
        "bias_grad": linear.bias.grad.numpy().copy(),
    }
    linear.zero_grad()
    ignored = xloss.SparseCategoricalCrossentropy(from_logits=True, ignore_class=IGNORE)(
        torch.from_numpy(IGNORED), linear(torch.from_numpy(FEATURES))
    )
    ignored.backward()
    result["ignored_mean"] = ignored.detach().numpy()
    result["ignored_weight_grad"] = linear.weight.grad.numpy()
    result["ignored_bias_grad"] = linear.bias.grad.numpy()
    return result


@pytest.mark.parametrize("rank", range(WORLD))
@pytest.mark.parametrize(
    "quantity",
    [
        "mean",
        "weight_grad",
        "bias_grad",
        "ignored_mean",
        "ignored_weight_grad",
        "ignored_bias_grad",
    ],
)
def test_two_ranks_equal_one_process(ranks, quantity, rank):
    expected = _single_process()[quantity]
    tol = tolerance("float32")
    np.testing.assert_allclose(ranks[rank][quantity], expected, rtol=tol, atol=tol)


def test_the_ranks_means_would_not_average_to_the_global_mean_with_ignored_labels():
    """Why the ignored-labels recipe sums: each rank divides by its own number of valid labels."""
    loss = xloss.SparseCategoricalCrossentropy(from_logits=True, ignore_class=IGNORE)
    logits = FEATURES @ WEIGHT.T + BIAS
    halves = [slice(0, N // 2), slice(N // 2, N)]
    averaged = np.mean([loss(IGNORED[h], logits[h]) for h in halves])
    assert not np.isclose(averaged, loss(IGNORED, logits), rtol=1e-3)
