"""softmax, log_softmax, logsumexp and log_sigmoid, written against the Array API standard.

The ``*_xp`` functions are the core: they take a namespace and arrays already in the compute
dtype. The public functions resolve the namespace, validate, upcast half precision to float32
and return the caller's dtype.
"""

from __future__ import annotations

from typing import Any

from xloss import _fast
from xloss._validation import (
    FloatInput,
    check_classes,
    check_flag,
    float_input,
    normalize_axis,
    to_caller_dtype,
)

# --- core -------------------------------------------------------------------------------------


def shift_xp(xp: Any, x: Any, axis: int) -> Any:
    """The per-row maximum, kept as a dimension, with non-finite maxima replaced by 0.

    Subtracting it makes ``exp`` safe. A row that is all ``-inf`` (or holds ``+inf``) keeps its
    values unshifted, so ``-inf`` rows give ``logsumexp = -inf`` instead of ``-inf - -inf = nan``.
    """
    m = xp.max(x, axis=axis, keepdims=True)
    return xp.where(xp.isfinite(m), m, xp.zeros_like(m))


def log_sum_exp_xp(xp: Any, x: Any, axis: int) -> Any:
    """``log(sum(exp(x)))`` along ``axis``, kept as a dimension; ``x`` already shifted."""
    return xp.log(xp.sum(xp.exp(x), axis=axis, keepdims=True))


def logsumexp_xp(xp: Any, x: Any, axis: int, keepdims: bool = False) -> Any:
    m = shift_xp(xp, x, axis)
    out = log_sum_exp_xp(xp, x - m, axis) + m
    return out if keepdims else xp.squeeze(out, axis=axis)


def log_softmax_xp(xp: Any, x: Any, axis: int) -> Any:
    """``(x - max) - log(sum(exp(x - max)))``: never subtracts two large numbers.

    The maximum is not guarded (unlike `shift_xp`'s): a row holding ``+inf`` or ``nan`` is
    ``nan`` throughout, as in PyTorch, JAX and TensorFlow; an all-``-inf`` row is ``nan`` too.
    """
    shifted = x - xp.max(x, axis=axis, keepdims=True)
    return shifted - log_sum_exp_xp(xp, shifted, axis)


def softmax_xp(xp: Any, x: Any, axis: int) -> Any:
    """``exp(x - max) / sum``; rows with ``+inf``, ``nan`` or only ``-inf`` are ``nan``."""
    e = xp.exp(x - xp.max(x, axis=axis, keepdims=True))
    return e / xp.sum(e, axis=axis, keepdims=True)


def softplus_parts(xp: Any, x: Any) -> tuple[Any, Any]:
    """``(max(x, 0), log1p(exp(-|x|)))``, whose sum is ``softplus(x) = log(1 + exp(x))``: no
    overflow for any ``x``. A caller that subtracts from softplus adds the small part last,
    after the cancellation: ``(max(x, 0) - x z) + log1p(exp(-|x|))`` is exact where ``x z``
    cancels ``max(x, 0)`` (a confident right prediction, ``x = 17``, ``z = 1``: 4.1e-8, where
    ``softplus(x) - x z`` gives 0).

    ``max(x, 0)`` and ``-|x|`` are built with ``where`` on ``x > 0`` rather than ``maximum`` and
    ``abs``: those have kinks at 0 whose subgradients differ between frameworks, while this form
    has the exact derivative ``sigmoid(x)`` everywhere, 0.5 at 0 included, on every backend.
    """
    zero = xp.zeros_like(x)
    positive = x > 0
    x_pos = xp.where(positive, x, zero)
    x_neg = xp.where(positive, zero, x)
    return x_pos, xp.log1p(xp.exp(x_neg - x_pos))


def softplus_xp(xp: Any, x: Any) -> Any:
    """``log(1 + exp(x))``, from `softplus_parts`."""
    large, small = softplus_parts(xp, x)
    return large + small


def binary_logits_xp(xp: Any, z: Any, x: Any) -> Any:
    """``softplus(x) - x z``, the binary cross-entropy of logits ``x`` against targets ``z``,
    as ``(max(x, 0) - x z) + log1p(exp(-|x|))`` (`softplus_parts`), exact where they cancel."""
    large, small = softplus_parts(xp, x)
    return (large - x * z) + small


def log_sigmoid_xp(xp: Any, x: Any) -> Any:
    # log(1 / (1 + exp(-x))) = -softplus(-x) = min(x, 0) - log1p(exp(-|x|))
    return -softplus_xp(xp, -x)


# --- public -----------------------------------------------------------------------------------


def _along_axis(arg: FloatInput, name: str, core: Any, axis: Any, **options: Any) -> Any:
    """Run ``core`` (or the backend's kernel for ``name``) along ``axis``, in the caller's dtype."""
    ns, x, dtype = arg
    axis = normalize_axis(axis, x.ndim, array="x")
    check_classes(x, axis, array="x")
    out = _fast.run(ns.backend.adapter, name, core, ns.xp, x, axis=axis, **options)
    return to_caller_dtype(ns.xp, out, dtype)


def softmax(x: Any, /, axis: int = -1) -> Any:
    r"""Softmax along ``axis``: ``exp(x) / sum(exp(x))``, computed with the maximum subtracted.

    ``\operatorname{softmax}(x)_i = e^{x_i - m} / \sum_j e^{x_j - m},\quad m = \max_j x_j``

    Args:
        x: real floating-point array of logits (NumPy, JAX, PyTorch, TensorFlow or any Array-API
            library). Python lists are computed with NumPy.
        axis: the axis to normalise over (default: the last).

    Returns:
        An array of ``x``'s type, dtype, shape and device whose entries along ``axis`` are in
        [0, 1] and sum to 1. float16/bfloat16 inputs are computed in float32 and returned in
        their own dtype. ``-inf`` entries get probability 0; a row that is all ``-inf`` has no
        distribution and gives ``nan``, and so does a row holding ``+inf`` or ``nan`` (as
        ``torch.softmax`` and ``jax.nn.softmax`` do; TensorFlow's ``tf.nn.softmax``, used on
        TensorFlow, leaves such a row's finite entries at 0 on some CPUs: see the Numerics
        page).

    Raises:
        TypeError: ``x`` is not a real floating-point array.
        ValueError: ``axis`` is out of range.

    Examples:
        >>> import numpy as np, xloss
        >>> xloss.softmax(np.array([1.0, 2.0, 3.0])).round(4)
        array([0.09  , 0.2447, 0.6652])
    """
    return _along_axis(float_input(x, upcast=False), "softmax", softmax_xp, axis)


def log_softmax(x: Any, /, axis: int = -1) -> Any:
    r"""Logarithm of `softmax`, computed as ``(x - m) - log(sum(exp(x - m)))``.

    More accurate than ``log(softmax(x))``: probabilities that underflow to 0 in ``softmax`` keep
    their finite log here.

    Args:
        x: real floating-point array of logits.
        axis: the axis to normalise over (default: the last).

    Returns:
        An array like ``x`` (type, dtype, shape, device) of log-probabilities, all ``<= 0``.
        ``-inf`` entries stay ``-inf``; an all-``-inf`` row gives ``nan``, and so does a row
        holding ``+inf`` or ``nan``, throughout.

    Raises:
        TypeError: ``x`` is not a real floating-point array.
        ValueError: ``axis`` is out of range.

    Examples:
        >>> import numpy as np, xloss
        >>> xloss.log_softmax(np.array([0.0, 1000.0]))
        array([-1000.,     0.])
    """
    return _along_axis(float_input(x, upcast=False), "log_softmax", log_softmax_xp, axis)


def logsumexp(x: Any, /, axis: int = -1, *, keepdims: bool = False) -> Any:
    r"""``log(sum(exp(x)))`` along ``axis``, without overflow.

    ``\operatorname{logsumexp}(x) = m + \log \sum_j e^{x_j - m},\quad m = \max_j x_j``

    Args:
        x: real floating-point array.
        axis: the axis to reduce (default: the last).
        keepdims: keep the reduced axis with size 1.

    Returns:
        An array of ``x``'s type, dtype and device with ``axis`` removed (or kept with size 1).
        A row that is all ``-inf`` gives ``-inf`` (the log of an empty sum); a row holding
        ``+inf`` gives ``+inf``; ``nan`` propagates.

    Raises:
        TypeError: ``x`` is not a real floating-point array.
        ValueError: ``axis`` is out of range.

    Examples:
        >>> import numpy as np, xloss
        >>> float(xloss.logsumexp(np.array([1000.0, 1000.0])))
        1000.6931471805599
    """
    keepdims = check_flag(keepdims, "keepdims")
    x = float_input(x, upcast=False)
    return _along_axis(x, "logsumexp", logsumexp_xp, axis, keepdims=keepdims)


def log_sigmoid(x: Any, /) -> Any:
    r"""``log(sigmoid(x)) = -log(1 + exp(-x))``, elementwise, finite for every finite ``x``.

    Computed as ``min(x, 0) - log1p(exp(-|x|))``.

    Args:
        x: real floating-point array of logits.

    Returns:
        An array like ``x`` (type, dtype, shape, device), all ``<= 0``.

    Raises:
        TypeError: ``x`` is not a real floating-point array.

    Examples:
        >>> import numpy as np, xloss
        >>> xloss.log_sigmoid(np.array([-1000.0, -1.0, 0.0, 1.0])).round(4).tolist()
        [-1000.0, -1.3133, -0.6931, -0.3133]
    """
    ns, x, dtype = float_input(x)
    return to_caller_dtype(ns.xp, log_sigmoid_xp(ns.xp, x), dtype)
