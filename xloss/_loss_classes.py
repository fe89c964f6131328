"""Loss objects: a per-sample loss with options fixed at construction, then a reduction."""

from __future__ import annotations

from typing import Any

from xloss._losses import binary_xp, categorical_xp, per_sample, sparse_categorical_xp
from xloss._reductions import reduce_xp
from xloss._validation import (
    check_axis,
    check_from_logits,
    check_ignore_class,
    check_label_smoothing,
    check_reduction,
)


class Loss:
    """A loss object: a per-sample loss with its options fixed at construction, then a
    reduction (Keras 3's). Call it as ``loss(y_true, y_pred, sample_weight=None)``; its
    subclasses are `CategoricalCrossentropy`, `SparseCategoricalCrossentropy` and
    `BinaryCrossentropy`."""

    _core: Any
    _kind: str
    _name: str | None = None  # the computation's name, when not ``_kind`` (see `per_sample`)

    def __init__(self, *, axis: int, reduction: str | None, **options: Any) -> None:
        self.axis = check_axis(axis)
        self.reduction = check_reduction(reduction)
        self._options = options

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Any:
        """The reduced loss (or the weighted per-sample losses for ``reduction=None``).

        Args:
            y_true: targets, as the matching function takes them.
            y_pred: logits or probabilities.
            sample_weight: optional weights: one per sample (shape ``(N,)``), one per loss value,
                or a scalar. A Python list or an array of ``y_pred``'s library.

        Returns:
            A scalar array (or the per-sample array for ``reduction=None``) of ``y_pred``'s type
            and device, in float32 (float64 for float64 predictions).
        """
        return self._reduced(y_true, y_pred, sample_weight)

    def _reduced(self, y_true: Any, y_pred: Any, sample_weight: Any, mask: Any = None) -> Any:
        """`__call__`, with ``mask`` (a boolean array of the per-sample losses' shape, or
        ``None``) leaving positions out as ``ignore_class`` does: Keras's ``_keras_mask``."""
        args, values, valid = per_sample(
            self._core,
            y_true,
            y_pred,
            sample_weight,
            axis=self.axis,
            kind=self._kind,
            name=self._name,
            **self._options,
        )
        if mask is not None:
            valid = mask if valid is None else args.xp.logical_and(valid, mask)
        return reduce_xp(args.xp, values, args.sample_weight, valid, self.reduction)

    def get_config(self) -> dict[str, Any]:
        """The constructor's arguments, as a dict: ``type(loss).from_config(config)`` rebuilds
        an equal loss."""
        return {**self._options, "axis": self.axis, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Loss:
        """A loss built from `get_config`'s dict (Keras's convention).

        Examples:
            >>> import xloss
            >>> loss = xloss.CategoricalCrossentropy(from_logits=True, reduction="sum")
            >>> xloss.CategoricalCrossentropy.from_config(loss.get_config())
            CategoricalCrossentropy(from_logits=True, label_smoothing=0.0, axis=-1, reduction='sum')
        """
        return cls(**config)

    def __repr__(self) -> str:
        options = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({options})"


class CategoricalCrossentropy(Loss):
    """`xloss.categorical_crossentropy` with a Keras 3 reduction.

    Args:
        from_logits: whether ``y_pred`` holds logits rather than probabilities.
        label_smoothing: in [0, 1].
            Or a traced JAX scalar (a ``jax.jit`` argument): a traced value is not range-checked.
        axis: the class axis (``-1``, or ``1`` for PyTorch's layout).
        reduction: ``"sum_over_batch_size"`` (default), ``"mean"``, ``"sum"``,
            ``"mean_with_sample_weight"`` or ``None``/``"none"``.

    Examples:
        >>> import numpy as np, xloss
        >>> loss = xloss.CategoricalCrossentropy(from_logits=True)
        >>> y_true = np.array([[0.0, 1.0], [1.0, 0.0]])
        >>> logits = np.array([[0.0, 2.0], [0.0, 2.0]])
        >>> round(float(loss(y_true, logits)), 4)
        1.1269
    """

    _core = staticmethod(categorical_xp)
    _kind = "categorical"

    def __init__(
        self,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
        reduction: str | None = "sum_over_batch_size",
    ) -> None:
        super().__init__(
            axis=axis,
            reduction=reduction,
            from_logits=check_from_logits(from_logits),
            label_smoothing=check_label_smoothing(label_smoothing),
        )


class SparseCategoricalCrossentropy(Loss):
    """`xloss.sparse_categorical_crossentropy` with a Keras 3 reduction.

    Positions labelled ``ignore_class`` count neither in the sum nor in the divisor of the
    ``"sum_over_batch_size"``/``"mean"`` reductions (Keras's rule): with 1 of 4 labels ignored,
    the loss is the sum of the other 3 divided by 3. If every position is ignored, the mean is 0.

    Args:
        from_logits: whether ``y_pred`` holds logits rather than probabilities.
        ignore_class: a label value to leave out (e.g. ``-100`` or a padding class), or None.
        axis: the class axis.
        reduction: as for `CategoricalCrossentropy`.

    Examples:
        >>> import numpy as np, xloss
        >>> loss = xloss.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-100)
        >>> logits = np.array([[2.0, 0.0], [0.0, 2.0], [5.0, 5.0]])
        >>> round(float(loss([0, 1, -100], logits)), 4)
        0.1269
    """

    _core = staticmethod(sparse_categorical_xp)
    _kind = "sparse"

    def __init__(
        self,
        from_logits: bool = False,
        ignore_class: int | None = None,
        axis: int = -1,
        reduction: str | None = "sum_over_batch_size",
    ) -> None:
        super().__init__(
            axis=axis,
            reduction=reduction,
            from_logits=check_from_logits(from_logits),
            ignore_class=check_ignore_class(ignore_class),
        )


class BinaryCrossentropy(Loss):
    """`xloss.binary_crossentropy` with a Keras 3 reduction.

    Args:
        from_logits: whether ``y_pred`` holds logits rather than probabilities.
        label_smoothing: in [0, 1]; targets become ``z * (1 - ls) + 0.5 * ls``.
            Or a traced JAX scalar (a ``jax.jit`` argument): a traced value is not range-checked.
        axis: the axis averaged over per sample.
        reduction: as for `CategoricalCrossentropy`.

    Examples:
        >>> import numpy as np, xloss
        >>> loss = xloss.BinaryCrossentropy(from_logits=True)
        >>> round(float(loss(np.array([[1.0], [0.0]]), np.array([[3.0], [-3.0]]))), 4)
        0.0486
    """

    _core = staticmethod(binary_xp)
    _kind = "binary"

    def __init__(
        self,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
        reduction: str | None = "sum_over_batch_size",
    ) -> None:
        super().__init__(
            axis=axis,
            reduction=reduction,
            from_logits=check_from_logits(from_logits),
            label_smoothing=check_label_smoothing(label_smoothing),
        )
