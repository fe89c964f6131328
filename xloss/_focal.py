"""Keras 3's focal cross-entropies, per sample, written against the Array API standard.

The focal loss (Lin et al., 2017) multiplies each cross-entropy term by ``(1 - p_t) ** gamma``,
``p_t`` being the probability given to the target, so that well-classified examples weigh less.
Keras 3 defines two: `binary_focal_crossentropy` and `categorical_focal_crossentropy`; these follow
``keras/src/losses/losses.py`` step by step, on any backend's arrays. They are public as
``xloss.compat.keras.binary_focal_crossentropy`` and friends.
"""

from __future__ import annotations

import math
from typing import Any

from xloss._activations import binary_logits_xp, log_sigmoid_xp, softmax_xp
from xloss._dispatch import device_of
from xloss._loss_classes import Loss
from xloss._losses import (
    _clip_probabilities,
    _normalised,
    per_sample,
    smooth_binary,
    smooth_categorical,
)
from xloss._validation import (
    as_number,
    check_flag,
    check_from_logits,
    check_label_smoothing,
    in_unit_interval,
    option_like,
    traced,
)

# --- argument checks --------------------------------------------------------------------------


def _non_negative(value: Any, name: str, hint: str) -> Any:
    """A finite number >= 0, or a traced JAX scalar as it is (unchecked)."""
    number = as_number(value, name, hint=hint, traceable=True)
    if traced(number):
        return number
    if not 0.0 <= number < math.inf:  # comparisons: see `_filters.check_temperature`
        raise ValueError(f"`{name}` must be a finite number >= 0; received {value!r}.{hint}")
    return number


def check_gamma(gamma: Any) -> Any:
    """``gamma`` as a float >= 0 (0 turns the focal factor off), or a traced JAX scalar."""
    return _non_negative(gamma, "gamma", " 0 gives the plain cross-entropy; 2.0 is the default.")


def check_class_balancing(apply_class_balancing: Any) -> bool:
    return check_flag(apply_class_balancing, "apply_class_balancing")


def check_binary_alpha(alpha: Any) -> Any:
    """The weight of class 1, in [0, 1] (class 0 gets ``1 - alpha``), or a traced JAX scalar."""
    hint = " It weighs class 1; class 0 gets 1 - alpha."
    if isinstance(alpha, (bool, str, bytes)):
        raise TypeError(f"`alpha` must be a number in [0, 1]; received {alpha!r}.{hint}")
    return in_unit_interval(alpha, "alpha", hint=hint, traceable=True)


def check_categorical_alpha(alpha: Any) -> Any:
    """One weight for every class (a number), or one per class (a sequence of numbers, as a
    tuple); traced JAX scalars among them as they are. A 0-d array is one number; a traced
    1-d JAX array gives its traced entries."""
    hint = " Pass one number for every class, or a list with one weight per class."
    # A number first: under torch.compile a float that changes between calls is a symbolic
    # float, for which Dynamo has no `hasattr` (a graph break, an error with fullgraph=True).
    one = isinstance(alpha, (int, float)) or getattr(alpha, "ndim", None) == 0
    if one or isinstance(alpha, (str, bytes)) or not hasattr(alpha, "__iter__"):
        return _non_negative(alpha, "alpha", hint)
    weights = tuple(_non_negative(a, "alpha", hint) for a in alpha)
    if not weights:
        raise ValueError(f"`alpha` must not be empty; received {alpha!r}.{hint}")
    return weights


# --- core -------------------------------------------------------------------------------------


def _focal_factor(xp: Any, base: Any, gamma: Any) -> Any:
    """``base ** gamma``, or None for ``gamma = 0``: no factor at all, so the loss is exactly
    the cross-entropy (and no ``0 ** 0`` appears in a gradient). ``gamma`` is a float, or an
    array (in JAX's kernel an argument of the program; or the caller's traced value), never
    tested in Python. An array may be 0 (the caller's): the factor is then 1, the same loss,
    and where ``base`` is 0 too it is computed as ``1 ** 0``, whose derivative is 0 where
    ``0 ** 0``'s is ``0 * 0 ** -1 = nan``."""
    if isinstance(gamma, (int, float)):
        return None if gamma == 0 else base**gamma
    gamma = option_like(xp, gamma, base)
    base = xp.where(xp.logical_and(base == 0, gamma == 0), xp.ones_like(base), base)
    return base**gamma


def _class_weights(xp: Any, alpha: tuple[float, ...], like: Any, axis: int) -> Any:
    """``alpha`` as an array of ``like``'s dtype and device, laid along ``axis``."""
    num_classes = like.shape[axis]
    if num_classes is not None and num_classes != len(alpha):
        raise ValueError(
            f"`alpha` has {len(alpha)} weights but `y_pred` has {num_classes} classes along "
            f"axis {axis}; give one weight per class, or a single number."
        )
    weights = xp.asarray(alpha, dtype=like.dtype, device=device_of(like))
    return xp.reshape(weights, tuple(-1 if d == axis else 1 for d in range(like.ndim)))


def binary_focal_xp(
    xp: Any,
    y_true: Any,
    y_pred: Any,
    *,
    axis: int,
    apply_class_balancing: bool,
    alpha: float,
    gamma: float,
    from_logits: bool,
    label_smoothing: float,
    clip: Any = None,
) -> tuple[Any, None]:
    if label_smoothing:
        y_true = smooth_binary(xp, y_true, y_pred, axis, label_smoothing)
    if from_logits:
        # Keras takes sigmoid(x); its TensorFlow backend then recovers x and uses the stable
        # logits form of the cross-entropy (no clipping), which is what this computes.
        bce = binary_logits_xp(xp, y_true, y_pred)
        p, not_p = xp.exp(log_sigmoid_xp(xp, y_pred)), xp.exp(log_sigmoid_xp(xp, -y_pred))
    else:
        clipped = (clip or _clip_probabilities)(xp, y_pred)
        bce = -(y_true * xp.log(clipped) + (1.0 - y_true) * xp.log(1.0 - clipped))
        p, not_p = y_pred, 1.0 - y_pred
    # 1 - p_t, where p_t = z p + (1 - z)(1 - p) is the probability given to the target.
    factor = _focal_factor(xp, y_true * not_p + (1.0 - y_true) * p, gamma)
    loss = bce if factor is None else factor * bce
    if apply_class_balancing:
        # an array alpha (traced) as a Python float is: 1 - alpha in its own precision first
        one, other = option_like(xp, alpha, loss), option_like(xp, 1.0 - alpha, loss)
        loss = (y_true * one + (1.0 - y_true) * other) * loss
    return xp.mean(loss, axis=axis), None


def categorical_focal_xp(
    xp: Any,
    y_true: Any,
    y_pred: Any,
    *,
    axis: int,
    alpha: float | tuple[float, ...],
    gamma: float,
    from_logits: bool,
    label_smoothing: float,
    clip: Any = None,
    normalise: Any = None,
) -> tuple[Any, None]:
    if label_smoothing:
        y_true = smooth_categorical(xp, y_true, y_pred, axis, label_smoothing)
    # As Keras does, logits go through softmax and then the probability path: renormalised,
    # clipped to [1e-7, 1 - 1e-7], so each term is capped at alpha * -log(1e-7).
    p = softmax_xp(xp, y_pred, axis) if from_logits else y_pred
    p = (clip or _clip_probabilities)(xp, (normalise or _normalised)(xp, p, axis))
    terms = -y_true * xp.log(p)
    factor = _focal_factor(xp, 1.0 - p, gamma)
    if factor is not None:
        terms = factor * terms
    if isinstance(alpha, tuple):
        terms = _class_weights(xp, alpha, p, axis) * terms
    else:
        terms = option_like(xp, alpha, terms) * terms
    return xp.sum(terms, axis=axis), None


# --- public functions -------------------------------------------------------------------------


def binary_focal_crossentropy(
    y_true: Any,
    y_pred: Any,
    *,
    apply_class_balancing: bool = False,
    alpha: float = 0.25,
    gamma: float = 2.0,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> Any:
    r"""Keras 3's binary focal cross-entropy, averaged over ``axis``, one value per sample.

    ``\ell = \operatorname{mean}_{axis}\big(w\,(1 - p_t)^\gamma\,\mathrm{bce}(z, p)\big)``,
    ``p_t = z p + (1 - z)(1 - p)``

    ``bce`` is `xloss.binary_crossentropy`'s element-wise term: from probabilities (the default)
    ``p`` is clipped to ``[1e-7, 1 - 1e-7]`` inside the log (the focal factor uses ``p`` as
    given); from logits it is the stable form ``softplus(x) - x z`` and ``p = sigmoid(x)``.
    ``w = alpha`` for class 1 and ``1 - alpha`` for class 0 when ``apply_class_balancing``,
    else 1. ``gamma = 0`` gives `xloss.binary_crossentropy`. Label smoothing replaces ``z`` by
    ``z * (1 - label_smoothing) + 0.5 * label_smoothing`` first.

    Keras's TensorFlow backend computes the logits case the same way; its JAX, PyTorch and NumPy
    backends clip ``sigmoid(x)`` instead, which differs only where ``|x| > 16``.

    Args:
        y_true: targets in [0, 1] with ``y_pred``'s shape.
        y_pred: logits or probabilities, real floating point.
        apply_class_balancing: whether to weigh class 1 by ``alpha`` and class 0 by
            ``1 - alpha``.
        alpha: in [0, 1]; used only with ``apply_class_balancing``.
            Or a traced JAX scalar (a ``jax.jit`` argument): a traced value is not range-checked.
        gamma: the focusing parameter, >= 0.
            Or a traced JAX scalar (a ``jax.jit`` argument): a traced value is not range-checked.
        from_logits: whether ``y_pred`` holds logits rather than probabilities.
        label_smoothing: in [0, 1].
            Or a traced JAX scalar (a ``jax.jit`` argument): a traced value is not range-checked.
        axis: the axis averaged over (default: the last).

    Returns:
        ``y_pred``'s type and device, with ``axis`` removed; float32 for float16/bfloat16/
        float32 input, float64 for float64.

    Raises:
        TypeError: ``y_pred`` is not floating point; an option has the wrong type.
        ValueError: the shapes differ; an option is out of range.

    Examples:
        >>> import numpy as np
        >>> from xloss.compat import keras
        >>> y_true = np.array([[0.0, 1.0], [0.0, 0.0]])
        >>> y_pred = np.array([[0.6, 0.4], [0.4, 0.6]])
        >>> keras.binary_focal_crossentropy(y_true, y_pred, gamma=2.0).round(4)
        array([0.3299, 0.2058])
    """
    _, loss, _ = per_sample(
        binary_focal_xp,
        y_true,
        y_pred,
        axis=axis,
        kind="binary",
        name="binary_focal",
        apply_class_balancing=check_class_balancing(apply_class_balancing),
        alpha=check_binary_alpha(alpha),
        gamma=check_gamma(gamma),
        from_logits=check_from_logits(from_logits),
        label_smoothing=check_label_smoothing(label_smoothing),
    )
    return loss


def categorical_focal_crossentropy(
    y_true: Any,
    y_pred: Any,
    *,
    alpha: float | Any = 0.25,
    gamma: float = 2.0,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> Any:
    r"""Keras 3's categorical focal cross-entropy, one value per sample.

    ``\ell = -\sum_c \alpha_c (1 - p_c)^\gamma\, y_c \log p_c``

    ``p`` is ``y_pred`` (or ``softmax(y_pred)`` with ``from_logits=True``) divided by its sum
    along ``axis`` and clipped to ``[1e-7, 1 - 1e-7]``, exactly as Keras does, also for logits:
    each term is therefore capped at ``alpha_c * -log(1e-7)``, and a logit so low that its
    probability clips gets no gradient. ``gamma = 0`` and ``alpha = 1`` give
    `xloss.categorical_crossentropy` from probabilities. Label smoothing replaces ``y`` by
    ``y * (1 - label_smoothing) + label_smoothing / C``, ``C = y_pred.shape[axis]`` (Keras
    counts ``y_true.shape[-1]``, the same for ``axis=-1``).

    Args:
        y_true: one-hot or soft targets with ``y_pred``'s shape.
        y_pred: logits or probabilities, real floating point.
        alpha: the weight of every class (a number), or one weight per class (a sequence of
            ``C`` numbers), laid along ``axis``.
            Or a traced JAX scalar (a ``jax.jit`` argument): a traced value is not range-checked.
        gamma: the focusing parameter, >= 0.
            Or a traced JAX scalar (a ``jax.jit`` argument): a traced value is not range-checked.
        from_logits: whether ``y_pred`` holds logits rather than probabilities.
        label_smoothing: in [0, 1].
            Or a traced JAX scalar (a ``jax.jit`` argument): a traced value is not range-checked.
        axis: the class axis.

    Returns:
        ``y_pred``'s type and device, with ``axis`` removed; float32 for float16/bfloat16/
        float32 input, float64 for float64.

    Raises:
        TypeError: ``y_pred`` is not floating point; an option has the wrong type.
        ValueError: the shapes differ; an option is out of range; ``alpha`` has a weight count
            other than ``C``.

    Examples:
        >>> import numpy as np
        >>> from xloss.compat import keras
        >>> y_true = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
        >>> y_pred = np.array([[0.2, 0.7, 0.1], [0.1, 0.85, 0.05]])
        >>> keras.categorical_focal_crossentropy(y_true, y_pred).round(4)
        array([0.008 , 0.6759])
        >>> keras.categorical_focal_crossentropy(y_true, y_pred, alpha=[0.2, 0.3, 0.5]).round(4)
        array([0.0096, 1.3518])
    """
    _, loss, _ = per_sample(
        categorical_focal_xp,
        y_true,
        y_pred,
        axis=axis,
        kind="categorical",
        name="categorical_focal",
        alpha=check_categorical_alpha(alpha),
        gamma=check_gamma(gamma),
        from_logits=check_from_logits(from_logits),
        label_smoothing=check_label_smoothing(label_smoothing),
    )
    return loss


# --- loss classes -----------------------------------------------------------------------------


class _FocalLoss(Loss):
    """A focal loss: Keras's arguments, including ``name`` (kept, and in the config)."""

    def __init__(self, *, name: Any, axis: int, reduction: str | None, **options: Any) -> None:
        super().__init__(axis=axis, reduction=reduction, **options)
        self.name = _check_name(name)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "name": self.name}


class BinaryFocalCrossentropy(_FocalLoss):
    """`binary_focal_crossentropy` with a Keras 3 reduction (Keras's arguments and defaults).

    Args:
        apply_class_balancing: whether to weigh class 1 by ``alpha`` and class 0 by
            ``1 - alpha``.
        alpha: in [0, 1]; used only with ``apply_class_balancing``.
            Or a traced JAX scalar (a ``jax.jit`` argument): a traced value is not range-checked.
        gamma: the focusing parameter, >= 0.
            Or a traced JAX scalar (a ``jax.jit`` argument): a traced value is not range-checked.
        from_logits: whether ``y_pred`` holds logits rather than probabilities.
        label_smoothing: in [0, 1].
            Or a traced JAX scalar (a ``jax.jit`` argument): a traced value is not range-checked.
        axis: the axis averaged over per sample.
        reduction: ``"sum_over_batch_size"`` (default), ``"mean"``, ``"sum"``,
            ``"mean_with_sample_weight"`` or ``None``/``"none"``.
        name: a name for the loss (kept in its config, as Keras does).

    Examples:
        >>> import numpy as np
        >>> from xloss.compat import keras
        >>> loss = keras.BinaryFocalCrossentropy(gamma=2.0, from_logits=True)
        >>> y_true = np.array([0.0, 1.0, 0.0, 0.0])
        >>> logits = np.array([-18.6, 0.51, 2.94, -12.8])
        >>> round(float(loss(y_true, logits)), 3)
        0.691
    """

    _core = staticmethod(binary_focal_xp)
    _kind = "binary"
    _name = "binary_focal"

    def __init__(
        self,
        apply_class_balancing: bool = False,
        alpha: float = 0.25,
        gamma: float = 2.0,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
        reduction: str | None = "sum_over_batch_size",
        name: str = "binary_focal_crossentropy",
    ) -> None:
        super().__init__(
            name=name,
            axis=axis,
            reduction=reduction,
            apply_class_balancing=check_class_balancing(apply_class_balancing),
            alpha=check_binary_alpha(alpha),
            gamma=check_gamma(gamma),
            from_logits=check_from_logits(from_logits),
            label_smoothing=check_label_smoothing(label_smoothing),
        )


class CategoricalFocalCrossentropy(_FocalLoss):
    """`categorical_focal_crossentropy` with a Keras 3 reduction (Keras's arguments and
    defaults).

    Args:
        alpha: the weight of every class (a number), or one weight per class (a sequence).
            Or a traced JAX scalar (a ``jax.jit`` argument): a traced value is not range-checked.
        gamma: the focusing parameter, >= 0.
            Or a traced JAX scalar (a ``jax.jit`` argument): a traced value is not range-checked.
        from_logits: whether ``y_pred`` holds logits rather than probabilities.
        label_smoothing: in [0, 1].
            Or a traced JAX scalar (a ``jax.jit`` argument): a traced value is not range-checked.
        axis: the class axis.
        reduction: as for `BinaryFocalCrossentropy`.
        name: a name for the loss (kept in its config, as Keras does).

    Examples:
        >>> import numpy as np
        >>> from xloss.compat import keras
        >>> loss = keras.CategoricalFocalCrossentropy()
        >>> y_true = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
        >>> y_pred = np.array([[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]])
        >>> round(float(loss(y_true, y_pred)), 4)
        0.2332
    """

    _core = staticmethod(categorical_focal_xp)
    _kind = "categorical"
    _name = "categorical_focal"

    def __init__(
        self,
        alpha: float | Any = 0.25,
        gamma: float = 2.0,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
        reduction: str | None = "sum_over_batch_size",
        name: str = "categorical_focal_crossentropy",
    ) -> None:
        super().__init__(
            name=name,
            axis=axis,
            reduction=reduction,
            alpha=check_categorical_alpha(alpha),
            gamma=check_gamma(gamma),
            from_logits=check_from_logits(from_logits),
            label_smoothing=check_label_smoothing(label_smoothing),
        )

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        if isinstance(config["alpha"], tuple):
            config["alpha"] = list(config["alpha"])
        return config


def _check_name(name: Any) -> str:
    if not isinstance(name, str):
        raise TypeError(f"`name` must be a string; received {name!r}.")
    return name


__all__ = [
    "BinaryFocalCrossentropy",
    "CategoricalFocalCrossentropy",
    "binary_focal_crossentropy",
    "categorical_focal_crossentropy",
]
