"""Logit filters for sampling, with HuggingFace's generation-warper semantics, and temperature.

Order of composition, as in HuggingFace's ``generate``: temperature, then top-k, then top-p
(nucleus), then min-p. Each filter keeps the shape and replaces the logits it removes by
``fill_value`` (``-inf``: probability 0 after softmax).
"""

from __future__ import annotations

import math
from typing import Any

from xloss import _fast
from xloss._activations import shift_xp, softmax_xp
from xloss._dispatch import device_of
from xloss._dtypes import finfo
from xloss._topk import check_k, top_k
from xloss._validation import (
    as_number,
    check_classes,
    check_traced,
    float_input,
    in_unit_interval,
    index_dtype,
    normalize_axis,
    option_like,
    same_dtype,
    to_caller_dtype,
    traced,
)


def check_temperature(temperature: Any, *, allow_zero: bool = False) -> Any:
    """``temperature`` as a finite float > 0 (or >= 0), or a traced JAX scalar as it is."""
    value = as_number(temperature, "temperature", traceable=True)
    if traced(value):
        return value
    # Comparisons, not `math.isinf`: under torch.compile a float argument that changes between
    # calls is a symbolic float, which Dynamo compares in the graph but cannot pass to `math`.
    if not (value > 0 or (allow_zero and value == 0)) or value == math.inf:
        bound = ">= 0 (0 means greedy)" if allow_zero else "> 0"
        raise ValueError(
            f"`temperature` must be finite and {bound}; received {temperature!r}. Values below "
            f"1 sharpen the distribution, above 1 flatten it."
        )
    return value


def _ranked(xp: Any, logits: Any, axis: int) -> Any:
    """``logits`` sorted along ``axis``, best first (ties: lower index first)."""
    order = xp.argsort(logits, axis=axis, descending=True, stable=True)
    return xp.take_along_axis(logits, order, axis=axis)


def _best(xp: Any, logits: Any, ranked: Any, count: Any, axis: int) -> Any:
    """Where ``logits`` holds its ``count`` best entries (an integer array, 1 or more, with
    ``axis`` kept), by the rank of `_ranked`: the entries above the ``count``-th best value,
    and of those equal to it the first by index. No inverse permutation of the sort (a second
    sort: 300 ms of XLA's CPU sort on 512 x 4096). Entries compare by value, so -0.0 ties
    with 0.0. A row holding NaN or +inf (a NaN softmax) cannot be compared; the filters remove
    nothing from it, which top-p does by counting the whole row (``whole``)."""
    n = logits.shape[axis]
    if n is None:  # unknown under tracing: count instead
        n = xp.sum(xp.ones_like(logits, dtype=count.dtype), axis=axis, keepdims=True)
    whole = count >= n
    count = xp.where(whole, xp.zeros_like(count) + n, count)
    last = xp.take_along_axis(ranked, count - 1, axis=axis)
    above = logits > last
    tied = logits == last
    room = count - xp.sum(xp.astype(above, count.dtype), axis=axis, keepdims=True)
    first_tied = xp.cumulative_sum(xp.astype(tied, count.dtype), axis=axis) <= room
    return xp.logical_or(xp.logical_or(above, xp.logical_and(tied, first_tied)), whole)


def _positions(xp: Any, x: Any, axis: int) -> Any:
    """0, 1, 2, ... along ``axis``, shaped to broadcast against ``x``."""
    n = x.shape[axis]
    if n is None:  # unknown under tracing: count instead
        ones = xp.ones_like(x, dtype=xp.int64)
        return xp.cumulative_sum(ones, axis=axis) - 1
    shape = [1] * x.ndim
    shape[axis] = n
    return xp.reshape(xp.arange(n, device=device_of(x)), tuple(shape))


def top_k_filter_xp(xp: Any, logits: Any, k: int, axis: int, fill_value: float) -> Any:
    threshold = top_k(logits, k, axis=axis).values
    index = tuple(slice(k - 1, k) if d == axis else slice(None) for d in range(logits.ndim))
    # HuggingFace's rule: removed when below the threshold (ties survive). Not "kept when at
    # or above it": NaN ranks first but compares false, and a NaN threshold removes nothing.
    remove = logits < threshold[index]
    return xp.where(remove, xp.full_like(logits, fill_value), logits)


def top_p_filter_xp(
    xp: Any, logits: Any, p: float, axis: int, min_keep: int, fill_value: float
) -> Any:
    # HuggingFace removes a token when the ascending cumulative probability up to it is
    # <= 1 - p; in descending order that is: the probability mass ranked above it is >= p.
    # p = 1 keeps everything, where the mass above a token may round to 1: `top_p_filter` and
    # `sample` decide that before for a Python number, `top_p_removed` for an array. No Python
    # branch on p here: JAX's kernel takes it as an argument of its program
    # (`xloss.adapters.jax.TRACED`), and the caller's traced value goes there too.
    ranked = _ranked(xp, logits, axis)
    # The tokens kept are the best ones, as many as the rule leaves: the mass above a token
    # only grows down the ranks (should rounding make `cumsum - probs` dip back below p after
    # a removed token, the count decides).
    kept = xp.logical_not(top_p_removed(xp, ranked, p, min_keep, axis))
    count = xp.sum(xp.astype(kept, index_dtype(xp)), axis=axis, keepdims=True)
    keep = _best(xp, logits, ranked, count, axis)
    return xp.where(keep, logits, xp.full_like(logits, fill_value))


def top_p_removed(
    xp: Any, ranked: Any, p: float, min_keep: int, axis: int, *, widen: bool = True
) -> Any:
    """Top-p's rule on ``ranked`` (the logits sorted best first): a token goes when the
    probability mass ranked above it is at least ``p``, past the first ``min_keep``.
    Kernels share it; ``widen=False`` where the namespace's float32 ``cumulative_sum``
    accumulates in float64 itself (PyTorch's on the CPU: `_running_total`'s values without its
    casts)."""
    probs = softmax_xp(xp, ranked, axis)
    total = _running_total(xp, probs, axis) if widen else xp.cumulative_sum(probs, axis=axis)
    mass_above = total - probs
    removed = mass_above >= option_like(xp, p, mass_above)
    if not isinstance(p, (int, float)):  # an array (traced) may be 1, which keeps everything
        removed = xp.logical_and(removed, p < 1.0)
    return xp.logical_and(removed, _positions(xp, ranked, axis) >= min_keep)


def _running_total(xp: Any, probs: Any, axis: int) -> Any:
    """The cumulative sum of float32 ``probs`` accumulated in float64 where the namespace has
    it, each partial total rounded to float32: PyTorch's rule (its float32 ``cumsum``
    accumulates in double), and what HuggingFace's warper computes. A float32 running total
    drifts over a long row: on 152,064 equal logits, top-p at 0.9 kept 136,992 tokens on NumPy,
    TensorFlow and array-api-strict, 134 more than the rule (and PyTorch) keeps. JAX without
    x64 has no float64: its float32 total (XLA's) can be a token off where the mass above a
    token is exactly ``p`` (16,001 of 32,000 equal logits at ``p = 0.5``, not 16,000)."""
    if not same_dtype(probs.dtype, xp.float32) or not _has_float64(xp):
        return xp.cumulative_sum(probs, axis=axis)
    total = xp.cumulative_sum(xp.astype(probs, xp.float64), axis=axis)
    return xp.astype(total, xp.float32)


def _has_float64(xp: Any) -> bool:
    """Whether the namespace computes in float64 (JAX does only with x64 on). A namespace
    whose inspection API does not list its dtypes (TensorFlow's) has it."""
    dtypes = getattr(xp.__array_namespace_info__(), "dtypes", None)
    return dtypes is None or "float64" in dtypes(kind="real floating")


def min_p_filter_xp(
    xp: Any, logits: Any, p: float, axis: int, min_keep: int, fill_value: float
) -> Any:
    probs = softmax_xp(xp, logits, axis)
    remove = probs < option_like(xp, p, probs) * xp.max(probs, axis=axis, keepdims=True)
    if min_keep > 1:  # the most probable token is never removed (p <= 1): ranks only then
        rows = xp.sum(xp.zeros_like(remove, dtype=index_dtype(xp)), axis=axis, keepdims=True)
        protected = _best(xp, logits, _ranked(xp, logits, axis), rows + min_keep, axis)
        remove = xp.logical_and(remove, xp.logical_not(protected))
    return xp.where(remove, xp.full_like(logits, fill_value), logits)


def _probability_filter(
    name: str, core: Any, logits: Any, p: Any, axis: Any, min_keep: Any, fill_value: Any
) -> Any:
    """Validate the arguments shared by top-p and min-p and run one of their cores (or the
    backend's kernel for ``name``)."""
    ns, x, dtype = float_input(logits, name="logits")
    axis = normalize_axis(axis, x.ndim, array="logits")
    check_classes(x, axis, array="logits")
    p = in_unit_interval(p, "p", traceable=True)
    min_keep = check_k(min_keep, None, name="min_keep")
    fill_value = as_number(fill_value, "fill_value", traceable=True)
    check_traced(ns.backend.name, "logits", p=p, fill_value=fill_value)
    # decided here, not in the body (see `top_p_filter_xp`), for a Python number
    if name == "top_p" and not traced(p) and p >= 1.0:
        return to_caller_dtype(ns.xp, x, dtype)
    out = _fast.run(
        ns.backend.adapter, name, core, ns.xp, x,
        p=p, axis=axis, min_keep=min_keep, fill_value=fill_value,
    )  # fmt: skip
    return to_caller_dtype(ns.xp, out, dtype)


# --- public -----------------------------------------------------------------------------------


def apply_temperature(logits: Any, temperature: float) -> Any:
    """``logits / temperature``: below 1 sharpens the distribution, above 1 flattens it.

    Args:
        logits: real floating-point array.
        temperature: a finite number > 0.
            Or a traced JAX scalar (a ``jax.jit`` argument): a traced value is not range-checked.

    Returns:
        An array like ``logits`` (type, dtype, device).

    Raises:
        ValueError: ``temperature`` is not finite and > 0.

    Examples:
        >>> import numpy as np, xloss
        >>> xloss.apply_temperature(np.array([1.0, 2.0]), 0.5)
        array([2., 4.])
    """
    ns, x, dtype = float_input(logits, name="logits")
    t = check_temperature(temperature)
    check_traced(ns.backend.name, "logits", temperature=t)
    return to_caller_dtype(ns.xp, x / option_like(ns.xp, t, x), dtype)


def top_k_filter(logits: Any, k: int, axis: int = -1, fill_value: float = -math.inf) -> Any:
    """Keep the ``k`` largest logits along ``axis``; replace the others by ``fill_value``.

    HuggingFace's ``TopKLogitsWarper``: a logit is removed when it is strictly below the
    ``k``-th largest, so ties at the threshold all survive (more than ``k`` may remain).

    Args:
        logits: real floating-point array.
        k: in ``[1, logits.shape[axis]]``.
        axis: the vocabulary axis.
        fill_value: what removed logits become (``-inf``: probability 0).
            Or a traced JAX scalar (a ``jax.jit`` argument): a traced value is not range-checked.

    Returns:
        An array like ``logits``.

    Raises:
        ValueError: ``k`` out of range. TypeError: non-floating ``logits``.

    Examples:
        >>> import numpy as np, xloss
        >>> xloss.top_k_filter(np.array([1.0, 3.0, 2.0, 3.0]), 1).tolist()
        [-inf, 3.0, -inf, 3.0]
    """
    ns, x, dtype = float_input(logits, name="logits")
    axis = normalize_axis(axis, x.ndim, array="logits")
    check_classes(x, axis, array="logits")
    k = check_k(k, x.shape[axis])
    fill = as_number(fill_value, "fill_value", traceable=True)
    check_traced(ns.backend.name, "logits", fill_value=fill)
    return to_caller_dtype(ns.xp, top_k_filter_xp(ns.xp, x, k, axis, fill), dtype)


def top_p_filter(
    logits: Any, p: float, axis: int = -1, min_keep: int = 1, fill_value: float = -math.inf
) -> Any:
    """Nucleus filter: keep the most probable logits whose cumulative probability reaches ``p``.

    HuggingFace's ``TopPLogitsWarper``: sorting by probability, a token is removed when the
    probability mass ranked above it is already ``>= p``; the ``min_keep`` most probable always
    stay. Equal logits rank lower index first, so a nucleus ending inside a run of equal logits
    keeps their lower indices, where HuggingFace's ascending sort drops those first (and keeps
    the higher ones: an unstable sort's order, not a rule). ``p = 1`` keeps everything.

    Args:
        logits: real floating-point array.
        p: in [0, 1].
            Or a traced JAX scalar (a ``jax.jit`` argument): a traced value is not range-checked.
        axis: the vocabulary axis.
        min_keep: how many tokens always survive (>= 1).
        fill_value: what removed logits become.
            Or a traced JAX scalar (a ``jax.jit`` argument): a traced value is not range-checked.

    Returns:
        An array like ``logits``.

    Raises:
        ValueError: ``p`` outside [0, 1]; ``min_keep`` < 1.

    Examples:
        >>> import numpy as np, xloss
        >>> logits = np.log(np.array([0.5, 0.3, 0.15, 0.05]))
        >>> np.isfinite(xloss.top_p_filter(logits, 0.7)).tolist()
        [True, True, False, False]
    """
    return _probability_filter("top_p", top_p_filter_xp, logits, p, axis, min_keep, fill_value)


def min_p_filter(
    logits: Any, p: float, axis: int = -1, min_keep: int = 1, fill_value: float = -math.inf
) -> Any:
    """Min-p filter: remove tokens less probable than ``p`` times the most probable one.

    HuggingFace's ``MinPLogitsWarper``; the ``min_keep`` most probable tokens always stay.

    Args:
        logits: real floating-point array.
        p: in [0, 1] (0 keeps everything).
            Or a traced JAX scalar (a ``jax.jit`` argument): a traced value is not range-checked.
        axis: the vocabulary axis.
        min_keep: how many tokens always survive (>= 1).
        fill_value: what removed logits become.
            Or a traced JAX scalar (a ``jax.jit`` argument): a traced value is not range-checked.

    Returns:
        An array like ``logits``.

    Raises:
        ValueError: ``p`` outside [0, 1]; ``min_keep`` < 1.

    Examples:
        >>> import numpy as np, xloss
        >>> logits = np.log(np.array([0.5, 0.3, 0.15, 0.05]))
        >>> np.isfinite(xloss.min_p_filter(logits, 0.2)).tolist()
        [True, True, True, False]
    """
    return _probability_filter("min_p", min_p_filter_xp, logits, p, axis, min_keep, fill_value)


def shifted_by_temperature(xp: Any, x: Any, temperature: float, axis: int) -> Any:
    """``(x - max) / temperature`` along ``axis`` (the maximum as `shift_xp` takes it): the
    softmax of ``x / temperature``, unchanged, without its overflow (``1e30 / 1e-9``) or the
    digits its rounding loses before the softmax's own shift cancels the maximum. Below 1,
    what the division would take past the dtype's range is clipped first (its ``exp`` is 0
    either way; NumPy would warn of an overflow). A traced ``temperature`` computes both and
    selects (at 1 the division by 1 changes nothing: the same bits as no division)."""
    shifted = x - shift_xp(xp, x, axis)
    if traced(temperature):  # both branches, selected: the division by 1 changes nothing
        floor = -0.5 * float(finfo(xp, shifted.dtype).max) * temperature
        clipped = _clipped_below(xp, shifted, option_like(xp, floor, shifted))
        shifted = xp.where(temperature < 1.0, clipped, shifted)
        return shifted / option_like(xp, temperature, shifted)
    if temperature < 1.0:  # -inf stays -inf: an all -inf row stays nan under the softmax
        floor = -0.5 * float(finfo(xp, shifted.dtype).max) * temperature
        shifted = _clipped_below(xp, shifted, floor)
    return shifted if temperature == 1.0 else shifted / temperature


def _clipped_below(xp: Any, shifted: Any, floor: Any) -> Any:
    return xp.where(shifted == -math.inf, shifted, xp.clip(shifted, floor, None))


def top_k_softmax(logits: Any, k: int, axis: int = -1, temperature: float = 1.0) -> Any:
    """The distribution over the ``k`` largest logits only: ``(probs, indices)``.

    ``probs = softmax(top_k(logits).values / temperature)`` along ``axis`` (size ``k``), with the
    indices of those logits; ties and NaN rank as in `xloss.top_k`. The values are shifted by
    their maximum before the division, so a small temperature neither overflows nor rounds
    away the differences between large logits.

    Args:
        logits: real floating-point array.
        k: in ``[1, logits.shape[axis]]``.
        axis: the vocabulary axis.
        temperature: finite, > 0.
            Or a traced JAX scalar (a ``jax.jit`` argument): a traced value is not range-checked.

    Returns:
        ``(probs, indices)``, both with ``axis`` of size ``k``; ``probs`` sums to 1 along it.

    Examples:
        >>> import numpy as np, xloss
        >>> probs, indices = xloss.top_k_softmax(np.array([0.0, 2.0, 1.0, 2.0]), 2)
        >>> probs.tolist(), indices.tolist()
        ([0.5, 0.5], [1, 3])
    """
    ns, x, dtype = float_input(logits, name="logits")
    xp = ns.xp
    axis = normalize_axis(axis, x.ndim, array="logits")
    check_classes(x, axis, array="logits")
    temperature = check_temperature(temperature)
    check_traced(ns.backend.name, "logits", temperature=temperature)
    values, indices = top_k(x, check_k(k, x.shape[axis]), axis=axis)
    probs = softmax_xp(xp, shifted_by_temperature(xp, values, temperature, axis), axis)
    return to_caller_dtype(xp, probs, dtype), indices
