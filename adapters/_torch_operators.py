"""Custom operators: host work that ``torch.compile`` calls as it is rather than tracing it.

Imported by the torch adapter inside its functions, where torch is imported already; under
``torch.compile`` Dynamo runs the import itself, so the registration below runs once, eagerly,
also when the first call is a compiled one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch


def best_of_candidates(x: Any, keys: Any, k: int, largest: bool) -> Any:
    """The adapter's `_best_of_candidates`: the indices of the K best of ``x`` (the axis last)
    from its candidates' unique keys, ordered by a NumPy sort, and the rows whose K-th place
    ties with their last candidate redone exactly, those rows only (a choice on values, made at
    every call)."""
    from xloss.adapters.torch import _best_of_candidates

    return _best_of_candidates(torch, x, keys, k, largest)


def _fake_best_of_candidates(x: Any, keys: Any, k: int, largest: bool) -> Any:
    return keys.new_empty((*keys.shape[:-1], k), dtype=torch.int64)


_operator: Any = None
if hasattr(torch.library, "custom_op"):  # torch 2.4 and later
    _operator = torch.library.custom_op(
        "xloss::best_of_candidates",
        best_of_candidates,
        mutates_args=(),
        schema="(Tensor x, Tensor keys, SymInt k, bool largest) -> Tensor",
    )
    _operator.register_fake(_fake_best_of_candidates)


def compiled_best_of_candidates(x: Any) -> Callable[..., Any] | None:
    """`best_of_candidates` as the custom operator ``xloss::best_of_candidates``, for a
    ``torch.compile``d call on ``x`` in host memory; ``None`` elsewhere: on other devices
    (reading values there would wait for the device), under ``torch.export`` (whose programs
    are saved to be loaded where xloss may not be imported, its operator not registered), and
    before torch 2.4 (no ``torch.library.custom_op``)."""
    exporting = getattr(torch.compiler, "is_exporting", None)
    if _operator is None or x.device.type != "cpu" or (exporting and exporting()):
        return None
    return _operator
