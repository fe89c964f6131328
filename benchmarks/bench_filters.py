"""Nucleus (top-p) filtering: xloss against HuggingFace's warpers, in one process.

PyTorch: ``TopPLogitsWarper`` (an unstable ``torch.sort`` ascending, ``cumsum``, a scatter
back); JAX: ``FlaxTopPLogitsWarper`` (``lax.top_k`` over the whole vocabulary, ``cumsum``,
``lax.sort_key_val`` back), both written out here as HuggingFace's ``generate`` runs them.
Each cell: the median ratio xloss / warper over interleaved pairs (`bench.measure`), and the
median times.

    python benchmarks/bench_filters.py
    python benchmarks/bench_filters.py --sizes 512x4096 --pairs 5
"""

from __future__ import annotations

import argparse
import functools
from typing import Any

import bench
import numpy as np

P = 0.9


def torch_cases() -> tuple[Any, Any, Any, Any]:
    import torch

    import xloss

    def warper(scores: Any) -> Any:
        sorted_logits, sorted_indices = torch.sort(scores, descending=False)
        cumulative_probs = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
        sorted_indices_to_remove = cumulative_probs <= (1 - P)
        sorted_indices_to_remove[..., -1:] = 0
        remove = sorted_indices_to_remove.scatter(1, sorted_indices, sorted_indices_to_remove)
        return scores.masked_fill(remove, -float("inf"))

    return torch.from_numpy, lambda x: xloss.top_p_filter(x, P), warper, lambda r: r


def jax_cases() -> tuple[Any, Any, Any, Any]:
    import jax
    import jax.numpy as jnp

    import xloss

    @jax.jit
    def warper(scores: Any) -> Any:
        topk_scores, topk_indices = jax.lax.top_k(scores, scores.shape[-1])
        mask_scores = jnp.full_like(scores, -jnp.inf)
        cumulative_probs = jax.nn.softmax(topk_scores, axis=-1).cumsum(axis=-1)
        score_mask = cumulative_probs < P
        score_mask = jnp.roll(score_mask, 1)
        score_mask |= score_mask.at[:, 0].set(True)
        topk_next_scores = jnp.where(score_mask, topk_scores, mask_scores)
        return jax.lax.sort_key_val(topk_indices, topk_next_scores)[-1]

    ours = jax.jit(lambda x: xloss.top_p_filter(x, P))
    return jnp.asarray, ours, warper, jax.block_until_ready


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["8x10", "8x32000", "512x4096"])
    parser.add_argument("--backends", nargs="+", default=["torch", "jax"])
    parser.add_argument("--pairs", type=int, default=7)
    args = parser.parse_args()
    print(f"{'backend':8} {'size':10} {'xloss/HF':>9} {'HF ms':>9} {'xloss ms':>9}")
    for name in args.backends:
        convert, ours, theirs, ready = {"torch": torch_cases, "jax": jax_cases}[name]()
        for size in args.sizes:
            rows, cols = bench.parse_size(size)
            logits = np.random.default_rng(0).standard_normal((rows, cols), dtype=np.float32) * 3
            x = convert(logits)
            ratio, native, xloss_s = bench.measure(
                functools.partial(ours, x), functools.partial(theirs, x), ready, args.pairs
            )
            print(f"{name:8} {size:10} {ratio:9.2f} {native * 1e3:9.3f} {xloss_s * 1e3:9.3f}")


if __name__ == "__main__":
    main()
