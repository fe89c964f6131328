"""The cross-entropy family, per sample, with Keras 3's numerics.

Each ``*_xp`` function takes a namespace and validated arrays in the compute dtype and returns
``(per_sample_loss, valid_mask_or_None)``; the public functions and the loss classes share them.
"""

from __future__ import annotations

import math
from typing import Any

from xloss import _checks, _fast
from xloss._activations import binary_logits_xp, log_softmax_xp, log_sum_exp_xp
from xloss._validation import (
    LossInputs,
    check_classes,
    check_from_logits,
    check_ignore_class,
    check_label_smoothing,
    check_traced,
    compute_dtype,
    loss_inputs,
    option_like,
    to_compute,
    traced,
)

EPSILON = 1e-7
"""Keras's ``backend.epsilon()``: probabilities are clipped to ``[EPSILON, 1 - EPSILON]``."""


def _clip_probabilities(xp: Any, p: Any) -> Any:
    """``p`` clipped to ``[EPSILON, 1 - EPSILON]``, by ``where``s: JAX's ``clip`` (a maximum and
    a minimum) gives half the gradient to a probability exactly at a bound, where PyTorch's
    ``clamp`` and TensorFlow's ``clip_by_value`` give all of it; the ``where``s give all of it
    on every backend. ``nan`` stays ``nan``."""
    high = 1.0 - EPSILON
    return xp.where(p < EPSILON, EPSILON, xp.where(p > high, high, p))


def _row_total(xp: Any, y_pred: Any, axis: int) -> Any:
    """The sum along the class axis, with 1 for an all-zero row (whose probabilities then clip
    to 1e-7: the largest loss, not 0/0 = nan); in the compute dtype, half precision summed as
    it is."""
    total = xp.sum(y_pred, axis=axis, keepdims=True, dtype=compute_dtype(xp, y_pred.dtype))
    return xp.where(total == 0, xp.ones_like(total), total)


def _normalised(xp: Any, y_pred: Any, axis: int) -> Any:
    """``y_pred`` divided by its sum along the class axis (`_row_total`), as Keras renormalises
    probabilities before it clips them."""
    return y_pred / _row_total(xp, y_pred, axis)


def _num_classes(xp: Any, y_pred: Any, axis: int) -> Any:
    n = y_pred.shape[axis]
    if n is None:  # unknown under tracing: count along the axis instead
        n = xp.sum(xp.ones_like(y_pred), axis=axis, keepdims=True)
    return n


def smooth_categorical(xp: Any, y_true: Any, y_pred: Any, axis: int, label_smoothing: Any) -> Any:
    """Keras's categorical smoothing: ``y (1 - ls) + ls / C``."""
    keep, spread = 1.0 - label_smoothing, label_smoothing / _num_classes(xp, y_pred, axis)
    if traced(label_smoothing):
        return _smooth_traced(xp, y_true, keep, spread)
    return y_true * keep + spread


def smooth_binary(xp: Any, y_true: Any, y_pred: Any, axis: int, label_smoothing: Any) -> Any:
    """Keras's binary smoothing: ``z (1 - ls) + ls / 2``."""
    if traced(label_smoothing):
        return _smooth_traced(xp, y_true, 1.0 - label_smoothing, 0.5 * label_smoothing)
    return y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing


def _smooth_traced(xp: Any, y_true: Any, keep: Any, spread: Any) -> Any:
    """``y keep + spread`` for a traced ``label_smoothing``: its coefficients computed in its
    own precision and then rounded to the targets' dtype, as a Python float's are (the same
    bits where the traced value is the Python float's: float32 for float32 ones, or with x64)."""
    return y_true * option_like(xp, keep, y_true) + option_like(xp, spread, y_true)


def categorical_xp(
    xp: Any,
    y_true: Any,
    y_pred: Any,
    *,
    axis: int,
    from_logits: bool,
    label_smoothing: float,
    clip: Any = None,
    normalise: Any = None,
) -> tuple[Any, None]:
    """``clip(xp, p)``: a kernel's own `_clip_probabilities`, the same values and gradients
    (JAX's: see `xloss.adapters.jax`), and ``normalise(xp, p, axis)`` its own `_normalised`;
    the same ``clip`` in the binary and focal bodies, ``normalise`` in the categorical focal
    body."""
    if label_smoothing:
        y_true = smooth_categorical(xp, y_true, y_pred, axis, label_smoothing)
    if from_logits:
        log_p = log_softmax_xp(xp, y_pred, axis)
        # A zero target contributes 0, also where a class is masked with a -inf logit
        # (0 * log 0 = 0, not nan); with a positive target the loss is +inf, as it should be.
        # Only a zero target's -inf (or nan) entries are replaced: elsewhere the gradient with
        # respect to a target, 0 or not, is log_softmax's entry.
        kept = (y_true != 0) | (log_p > -math.inf)  # false for a zero target's -inf and nan
        terms = y_true * xp.where(kept, log_p, 0.0)
    else:
        p = (clip or _clip_probabilities)(xp, (normalise or _normalised)(xp, y_pred, axis))
        terms = y_true * xp.log(p)
    return -xp.sum(terms, axis=axis), None


def sparse_categorical_xp(
    xp: Any,
    labels: Any,
    y_pred: Any,
    *,
    axis: int,
    from_logits: bool,
    ignore_class: int | None,
    take: Any = None,
    maximum: Any = None,
) -> tuple[Any, Any]:
    """``take``: a kernel's own ``take_along_axis`` (JAX's, for half precision: see
    `xloss.adapters.jax`); the namespace's by default. ``maximum(y_pred, axis)``: a kernel's
    row maximum, kept as a dimension (JAX's: a constant for differentiation); the namespace's
    ``max`` by default.

    Half-precision ``y_pred`` may come as given (JAX's kernel passes it so): the maximum and
    the gathered entry are taken from it, exactly, and widened; only the sum of exponentials
    reads it widened, so a compiler need not write out a widened copy for three readers."""
    # Eager calls have had their labels checked (a ValueError). Traced ones cannot be: there,
    # a label outside [0, C) gives nan for its sample, on every backend, and is never gathered.
    num_classes = y_pred.shape[axis]
    if num_classes is None:
        num_classes = xp.astype(_num_classes(xp, y_pred, axis), labels.dtype)
        num_classes = xp.squeeze(num_classes, axis=axis)
    in_range = xp.logical_and(labels >= 0, labels < num_classes)
    out_of_range = xp.logical_not(in_range)
    valid = None
    if ignore_class is not None:
        valid = labels != ignore_class
        out_of_range = xp.logical_and(out_of_range, valid)
    index = xp.expand_dims(xp.where(in_range, labels, xp.zeros_like(labels)), axis=axis)
    picked = to_compute(xp, (take or xp.take_along_axis)(y_pred, index, axis=axis))
    if from_logits:
        # -log_softmax(x)[label] = lse(x - m) - (x[label] - m), gathered without a one-hot.
        # The logit is gathered from x, not from x - m: the same number, and compilers need
        # not keep x - m in memory for the gather. m is log_softmax's unguarded maximum: a row
        # holding +inf or nan gives nan.
        m = xp.max(y_pred, axis=axis, keepdims=True) if maximum is None else maximum(y_pred, axis)
        m = to_compute(xp, m)
        loss = log_sum_exp_xp(xp, to_compute(xp, y_pred) - m, axis) - (picked - m)
    else:
        loss = -xp.log(_clip_probabilities(xp, picked / _row_total(xp, y_pred, axis)))
    loss = xp.squeeze(loss, axis=axis)
    loss = xp.where(out_of_range, xp.full_like(loss, math.nan), loss)
    if valid is not None:
        loss = xp.where(valid, loss, xp.zeros_like(loss))
    return loss, valid


def binary_xp(
    xp: Any,
    y_true: Any,
    y_pred: Any,
    *,
    axis: int,
    from_logits: bool,
    label_smoothing: float,
    clip: Any = None,
) -> tuple[Any, None]:
    if label_smoothing:
        y_true = smooth_binary(xp, y_true, y_pred, axis, label_smoothing)
    if from_logits:
        elementwise = binary_logits_xp(xp, y_true, y_pred)
    else:
        p = (clip or _clip_probabilities)(xp, y_pred)
        elementwise = -(y_true * xp.log(p) + (1.0 - y_true) * xp.log(1.0 - p))
    return xp.mean(elementwise, axis=axis), None


def per_sample(
    core: Any,
    y_true: Any,
    y_pred: Any,
    sample_weight: Any = None,
    *,
    axis: Any,
    kind: str,
    name: str | None = None,
    **options: Any,
) -> tuple[LossInputs, Any, Any]:
    """Validate the arguments and run one ``*_xp`` core: ``(inputs, per_sample, valid_mask)``.

    ``kind`` is ``"categorical"``, ``"sparse"`` or ``"binary"``: the targets it takes and the
    from_logits heuristics. ``name`` (default: ``kind``) names the computation, for label
    smoothing and native kernels: the focal losses pass their own, which have neither.
    """
    name = name or kind
    args = loss_inputs(
        y_true, y_pred, sample_weight, axis=axis, sparse=kind == "sparse", upcast=False
    )
    xp, targets = args.xp, args.y_true
    if kind != "binary":  # the binary losses' axis is averaged, not a class axis: empty is nan
        check_classes(args.y_pred, args.axis)
    # Readable when the targets are too: transformed over the targets alone (torch.func.vmap,
    # JAX's tracing), the predictions may be concrete while the targets' values are not.
    host = args.adapter.readable(args.y_pred)
    if host is not None and args.adapter.readable(targets) is None:
        host = None
    enabled = _checks.enabled()
    checked = host is not None and enabled
    if checked and kind == "sparse":
        num_classes = args.y_pred.shape[args.axis]
        _checks.check_label_range(xp, targets, num_classes, args.axis, options["ignore_class"])
    # Keras's marker is an attribute, not a value: looked at off the host too
    marked = enabled and _checks.warn_if_marked(y_pred, from_logits=options["from_logits"])
    if checked and not marked:
        _checks.warn_if_mistaken(
            xp,
            y_pred,
            host,
            args.axis,
            from_logits=options["from_logits"],
            kind=kind,
            adapter=args.adapter,
        )
    check_traced(args.adapter.NAME, "y_pred", **options)
    smoothing, smooth = options.get("label_smoothing"), _SMOOTHING.get(name)
    # here, once: kernels and generic bodies agree; a traced value is applied whatever it is
    if smooth is not None and (traced(smoothing) or smoothing):
        targets = smooth(xp, to_compute(xp, targets), args.y_pred, args.axis, smoothing)
        options["label_smoothing"] = 0.0
    values, valid = _fast.run(
        args.adapter,
        name,
        core,
        xp,
        targets,
        args.y_pred,
        readable=host is not None,
        checked=checked,
        axis=args.axis,
        **options,
    )
    return args, values, valid


_SMOOTHING = {
    "categorical": smooth_categorical,
    "binary": smooth_binary,
    "categorical_focal": smooth_categorical,
    "binary_focal": smooth_binary,
}
"""The losses whose targets are smoothed before their kernel: the same expression either side,
and outside it ``label_smoothing`` is no constant of a compiled program (eager JAX compiled
one per new value)."""


# --- public functions -------------------------------------------------------------------------


def categorical_crossentropy(
    y_true: Any,
    y_pred: Any,
    *,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> Any:
    r"""Cross-entropy between target distributions and predictions, one value per sample.

    ``\ell = -\sum_c y_c \log p_c``

    With ``from_logits=True``, ``log p = log_softmax(y_pred)``. With ``from_logits=False`` (the
    default, as in Keras), ``y_pred`` holds probabilities: they are divided by their sum along
    ``axis`` and clipped to ``[1e-7, 1 - 1e-7]`` before the log, exactly as Keras 3 does, so the
    loss of one sample never exceeds ``-log(1e-7) ~= 16.118``. Label smoothing replaces ``y`` by
    ``y * (1 - label_smoothing) + label_smoothing / C``, with ``C = y_pred.shape[axis]``.

    Args:
        y_true: targets with ``y_pred``'s shape: one-hot or soft labels (rows summing to 1).
            A Python list, or an array of the same library as ``y_pred``.
        y_pred: logits (``from_logits=True``) or probabilities (``from_logits=False``); real
            floating point.
        from_logits: whether ``y_pred`` holds logits rather than probabilities.
        label_smoothing: in [0, 1]; 0 disables smoothing.
            Or a traced JAX scalar (a ``jax.jit`` argument): a traced value is not range-checked.
        axis: the class axis: ``-1`` (Keras, TensorFlow, JAX) or ``1`` (PyTorch's layout).

    Returns:
        The loss per sample: ``y_pred``'s type and device, with ``axis`` removed, in float64
        for float64 input and float32 otherwise: float16/bfloat16 predictions are computed in
        float32 and their losses returned in float32 (a loss of 7e4, or a batch sum of them,
        would overflow float16; Keras's mixed precision keeps losses in float32 too).
        From logits, a class masked with ``-inf`` and a zero target adds 0 (not ``nan``).

    Raises:
        TypeError: ``y_pred`` is not floating point; arrays of two frameworks are mixed.
        ValueError: the shapes differ; ``axis`` or ``label_smoothing`` is out of range.

    Examples:
        >>> import numpy as np, xloss
        >>> y_true = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
        >>> y_pred = np.array([[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]])
        >>> xloss.categorical_crossentropy(y_true, y_pred).round(4)
        array([0.0513, 2.3026])
    """
    _, loss, _ = per_sample(
        categorical_xp,
        y_true,
        y_pred,
        axis=axis,
        kind="categorical",
        from_logits=check_from_logits(from_logits),
        label_smoothing=check_label_smoothing(label_smoothing),
    )
    return loss


def sparse_categorical_crossentropy(
    y_true: Any,
    y_pred: Any,
    *,
    from_logits: bool = False,
    ignore_class: int | None = None,
    axis: int = -1,
) -> Any:
    r"""Cross-entropy with integer class labels, one value per sample, without a one-hot.

    ``\ell = -\log p_{y}``

    From logits this is ``logsumexp(x) - x[y]`` computed with the maximum subtracted (the
    gathered logit is never turned into a one-hot). From probabilities (the default), the picked
    probability is divided by the row sum and clipped to ``[1e-7, 1 - 1e-7]``, as in Keras 3.

    Args:
        y_true: integer labels in ``[0, C)``, shaped like ``y_pred`` without the class axis
            (Keras's ``(N, 1)`` form is accepted too). A Python list or an integer array.
        y_pred: logits or probabilities, real floating point, with the class axis ``axis``.
        from_logits: whether ``y_pred`` holds logits rather than probabilities.
        ignore_class: a label value (e.g. ``-100`` or a padding class) whose positions get loss 0;
            the loss classes also leave them out of the mean.
        axis: the class axis: ``-1`` or ``1`` (PyTorch's layout), any axis works.

    Returns:
        The loss per sample: ``y_pred``'s type and device, with ``axis`` removed; 0 at ignored
        positions. float32 for float16/bfloat16/float32 input, float64 for float64.

    Raises:
        TypeError: ``y_true`` is not an integer array; ``y_pred`` is not floating point.
        ValueError: the shapes do not match; ``axis`` is out of range.

    Examples:
        >>> import numpy as np, xloss
        >>> logits = np.array([[2.0, 0.5, -1.0], [0.0, 0.0, 3.0]])
        >>> xloss.sparse_categorical_crossentropy([0, 2], logits, from_logits=True).round(4)
        array([0.2413, 0.0949])
    """
    _, loss, _ = per_sample(
        sparse_categorical_xp,
        y_true,
        y_pred,
        axis=axis,
        kind="sparse",
        from_logits=check_from_logits(from_logits),
        ignore_class=check_ignore_class(ignore_class),
    )
    return loss


def binary_crossentropy(
    y_true: Any,
    y_pred: Any,
    *,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> Any:
    r"""Binary cross-entropy, averaged over ``axis`` (as Keras does), one value per sample.

    ``\ell = \operatorname{mean}_{axis}\big(-z \log p - (1 - z) \log(1 - p)\big)``

    From logits, the stable form ``max(x, 0) - x z + log1p(exp(-|x|))`` is used on every
    backend: finite for any finite logit. From probabilities (the default), ``p`` is clipped to
    ``[1e-7, 1 - 1e-7]`` (not renormalised), as in Keras 3. Label smoothing replaces ``z`` by
    ``z * (1 - label_smoothing) + 0.5 * label_smoothing``.

    Args:
        y_true: targets in [0, 1] with ``y_pred``'s shape (``(N,)`` against ``(N, 1)`` is
            accepted and aligned, never broadcast to ``(N, N)``).
        y_pred: logits or probabilities, real floating point.
        from_logits: whether ``y_pred`` holds logits rather than probabilities.
        label_smoothing: in [0, 1].
            Or a traced JAX scalar (a ``jax.jit`` argument): a traced value is not range-checked.
        axis: the axis averaged over (default: the last).

    Returns:
        ``y_pred``'s type and device, with ``axis`` removed; float32 for float16/bfloat16/
        float32 input, float64 for float64.

    Raises:
        TypeError: ``y_pred`` is not floating point; arrays of two frameworks are mixed.
        ValueError: the shapes differ; ``axis`` or ``label_smoothing`` is out of range.

    Examples:
        >>> import numpy as np, xloss
        >>> y_true = np.array([[0.0, 1.0], [0.0, 0.0]])
        >>> y_pred = np.array([[0.6, 0.4], [0.4, 0.6]])
        >>> xloss.binary_crossentropy(y_true, y_pred).round(4)
        array([0.9163, 0.7136])
    """
    _, loss, _ = per_sample(
        binary_xp,
        y_true,
        y_pred,
        axis=axis,
        kind="binary",
        from_logits=check_from_logits(from_logits),
        label_smoothing=check_label_smoothing(label_smoothing),
    )
    return loss
