"""PyTorch's fused kernels, used where they give the generic body's answer.

``F.cross_entropy`` (one fused log-softmax and gather), ``F.binary_cross_entropy_with_logits``,
``torch.softmax``/``log_softmax``/``logsumexp``. Each kernel takes the generic body's arguments
and returns its result, or ``None`` to decline (the generic body then runs).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from typing import Any

from xloss._losses import EPSILON


def _softmax(x: Any, *, axis: int, **_: Any) -> Any:
    """Takes bfloat16 as is: torch's CPU kernel computes it in float32 and rounds once, bit
    for bit what upcasting first gives (checked), without a conversion pass. Its float16 path
    (and log_softmax/logsumexp in either) round differently, so those are upcast."""
    torch = sys.modules["torch"]
    if x.dtype == torch.float16 or (x.dtype == torch.bfloat16 and x.device.type != "cpu"):
        x = x.float()
    return torch.softmax(x, axis)


def _log_softmax(x: Any, *, axis: int, **_: Any) -> Any:
    return sys.modules["torch"].log_softmax(x, axis)


def _logsumexp(x: Any, *, axis: int, keepdims: bool, **_: Any) -> Any:
    return sys.modules["torch"].logsumexp(x, axis, keepdim=keepdims)


def _classes_on_dim_1(x: Any, axis: int) -> tuple[Any, Callable[[Any], Any]]:
    """``x`` with the class axis where ``F.cross_entropy`` wants it, and how to put back the
    per-sample shape. The last axis is flattened to ``(M, C)``: a view, no copy."""
    if x.ndim <= 2 and axis == x.ndim - 1:
        return x, lambda loss: loss
    if axis == x.ndim - 1:
        shape = x.shape[:-1]
        return x.reshape(-1, x.shape[-1]), lambda loss: loss.reshape(shape)
    return x.movedim(axis, 1), lambda loss: loss


def _sparse(
    labels: Any,
    x: Any,
    *,
    axis: int,
    from_logits: bool,
    ignore_class: int | None,
    checked: bool,
    **_: Any,
) -> tuple[Any, Any] | None:
    torch = sys.modules["torch"]
    F = torch.nn.functional
    valid = None if ignore_class is None else labels != ignore_class
    compute = torch.float64 if x.dtype == torch.float64 else torch.float32
    if not from_logits:
        return _sparse_probabilities(torch, labels, x, axis, valid, compute) if checked else None
    logits, restore = _classes_on_dim_1(x.to(compute), axis)
    flat = labels.reshape(-1) if logits.ndim == 2 and labels.ndim != 1 else labels
    if checked:  # every label is in [0, C) or is ignore_class
        ignore = -100 if ignore_class is None else ignore_class
        return restore(F.cross_entropy(logits, flat, ignore_index=ignore, reduction="none")), valid
    # Unchecked (traced, or on an accelerator): an out-of-range label gives nan, as the generic
    # body does, and is never gathered (on CUDA it would trip a device-side assert).
    num_classes = x.shape[axis]
    in_range = (flat >= 0) & (flat < num_classes)
    wrong = ~in_range if ignore_class is None else ~in_range & (flat != ignore_class)
    keep = in_range if ignore_class is None else in_range & (flat != ignore_class)
    safe = torch.where(keep, flat, torch.full_like(flat, -100))
    loss = F.cross_entropy(logits, safe, ignore_index=-100, reduction="none")
    return restore(torch.where(wrong, torch.full_like(loss, math.nan), loss)), valid


def _sparse_probabilities(
    torch: Any, labels: Any, p: Any, axis: int, valid: Any, compute: Any
) -> tuple[Any, Any]:
    """The picked probability over the row total, clipped, as Keras: reading half precision
    as is (``sum(dtype=float32)`` accumulates in float32 without a converted copy)."""
    index = labels if valid is None else torch.where(valid, labels, 0)
    picked = torch.gather(p, axis, index.unsqueeze(axis)).squeeze(axis).to(compute)
    total = torch.sum(p, dim=axis, dtype=compute)
    total = torch.where(total == 0, 1.0, total)
    loss = -torch.log(torch.clamp(picked / total, EPSILON, 1.0 - EPSILON))
    if valid is None:
        return loss, None
    return torch.where(valid, loss, 0.0), valid


def _categorical(
    y: Any,
    x: Any,
    *,
    axis: int,
    from_logits: bool,
    label_smoothing: float,
    readable: bool,
    generic: Callable[..., Any],
    xp: Any,
    **_: Any,
) -> tuple[Any, None] | None:
    """``F.cross_entropy`` with probability targets; its rows that are nan are recomputed.

    torch multiplies ``0 * log_softmax = 0 * -inf`` where a class is masked with ``-inf``; the
    generic body defines that as 0. Checking the (N,)-sized result for nan is cheap on host
    memory; elsewhere (traced, accelerators) the generic body runs, fused by the compiler.
    """
    if not (from_logits and readable) or label_smoothing:
        return None
    torch = sys.modules["torch"]
    logits, restore = _classes_on_dim_1(x, axis)
    targets = _classes_on_dim_1(y, axis)[0]
    loss = restore(torch.nn.functional.cross_entropy(logits, targets, reduction="none"))
    return _generic_where(torch.isnan(loss), loss, generic, xp, y, x, axis), None


def _generic_where(
    bad: Any, loss: Any, generic: Callable[..., Any], xp: Any, y: Any, x: Any, axis: int
) -> Any:
    """``loss`` with its ``bad`` samples recomputed by the generic body from logits: a check
    of the (N,)-sized result, for host arrays only (it branches on values)."""
    if not bool(bad.any()):
        return loss
    exact, _ = generic(xp, y, x, axis=axis, from_logits=True, label_smoothing=0.0)
    return sys.modules["torch"].where(bad, exact, loss)


def _binary(
    z: Any,
    x: Any,
    *,
    axis: int,
    from_logits: bool,
    label_smoothing: float,
    readable: bool,
    generic: Callable[..., Any],
    xp: Any,
    **_: Any,
) -> tuple[Any, None] | None:
    """From logits, ``F.binary_cross_entropy_with_logits``; its samples that are not finite
    (infinite logits, where torch's formula and the generic body's meet ``inf - inf`` or
    ``0 * inf`` in different places) are recomputed by the generic body. Where values cannot
    be read (``torch.compile``, accelerators), float32 takes ``F.softplus(x) - x z``: the generic
    body's formula and non-finite cases, with fewer ``where``s for inductor to fuse (0.93-0.98x
    ``F.binary_cross_entropy_with_logits`` compiled, against 1.03-1.10x for the generic body).
    ``F.softplus`` returns ``x`` above 20, where ``log1p(exp(-x))`` is below half a float32 ulp
    of ``x`` but not of a float64 one: float64 keeps the generic body."""
    if label_smoothing:
        return None
    torch = sys.modules["torch"]
    if not readable:
        if not from_logits or x.dtype != torch.float32:
            return None
        return (torch.nn.functional.softplus(x) - x * z).mean(axis), None
    if from_logits:
        loss = torch.nn.functional.binary_cross_entropy_with_logits(x, z, reduction="none")
        loss = loss.mean(axis)
        return _generic_where(~torch.isfinite(loss), loss, generic, xp, z, x, axis), None
    # -(z log p + (1 - z) log(1 - p)) with one lerp for the weighting: b + z (a - b).
    # (F.binary_cross_entropy refuses targets outside [0, 1] and nan; Keras's formula does not.)
    p = torch.clamp(x, EPSILON, 1.0 - EPSILON)
    return -torch.lerp(torch.log(1.0 - p), torch.log(p), z).mean(axis), None


KERNELS: dict[str, Callable[..., Any]] = {
    "softmax": _softmax,
    "log_softmax": _log_softmax,
    "logsumexp": _logsumexp,
    "sparse": _sparse,
    "categorical": _categorical,
    "binary": _binary,
}
