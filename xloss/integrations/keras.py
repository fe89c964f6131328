"""xloss's losses as ``keras.losses.Loss`` objects, for ``model.compile(loss=...)``.

Each class takes the arguments of the Keras class of the same name, in the same order, with the
same defaults. Its ``call`` computes the per-sample loss with xloss on whatever tensors the
Keras backend hands it (``tf.Tensor``, JAX arrays and tracers, ``torch.Tensor``); Keras then
applies the reduction, ``sample_weight`` and masks as it does for its own losses. The classes are
registered for saving (``package="xloss"``), so a model compiled with one saves and reloads.

On Keras's TensorFlow backend, a softmax/sigmoid output layer's predictions are computed from
the logits behind them, where Keras's own losses do (`xloss.compat.keras` has the rules): a
saturated prediction then keeps its loss and its gradient, as with Keras's loss, instead of
being capped at ``-log(1e-7) = 16.118`` with no gradient. Keras's other backends clip, and so
do these classes there.

Importing this module imports Keras (and so its backend); ``import xloss`` does not.

Examples:
    >>> import numpy as np, keras
    >>> from xloss.integrations import keras as xloss_keras
    >>> loss = xloss_keras.SparseCategoricalCrossentropy(from_logits=True)
    >>> logits = np.array([[2.0, 0.5, -1.0], [0.0, 0.0, 3.0]], np.float32)
    >>> round(float(loss(np.array([0, 2]), logits)), 4)
    0.1681
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
from keras.src.backend import set_keras_mask  # the mask Keras's own sparse loss attaches

import xloss
from xloss.compat import keras as compat

__all__ = [
    "BinaryCrossentropy",
    "BinaryFocalCrossentropy",
    "CategoricalCrossentropy",
    "CategoricalFocalCrossentropy",
    "SparseCategoricalCrossentropy",
]


class _Loss(keras.losses.Loss):
    """A Keras loss whose per-sample values are xloss's: options are checked by the xloss
    class of the same name at construction, and passed to the xloss function at each call."""

    _xloss_class: type[xloss.Loss]
    _function: Callable[..., Any]

    def __init__(self, *, name: str, reduction: str | None, dtype: Any, **options: Any) -> None:
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        checked = self._xloss_class(**options, reduction=None).get_config()
        # The checked options, also in the config: plain Python values (a per-class alpha as a
        # list of floats), which a saved model stores as JSON and reloads. The options as given
        # may be arrays, which Keras saves as a `__numpy__` record that its from_config does not
        # turn back into an array.
        self._options = {k: checked[k] for k in options}
        for key, value in options.items():
            setattr(self, key, value)  # as Keras's classes expose them: loss.from_logits, ...

    def call(self, y_true: Any, y_pred: Any) -> Any:
        """The per-sample losses, as Keras's ``call``: of backend tensors, or of anything
        ``keras.ops.convert_to_tensor`` takes (NumPy arrays, lists), as Keras's loss functions
        convert them; ``__call__`` has converted them already.

        On the TensorFlow backend, a ``y_pred`` made by a softmax/sigmoid activation is computed
        from the logits behind it, as Keras's own losses do (`xloss.compat.keras`'s
        ``_keras_tf_logits`` has the rules).
        """
        y_true = keras.ops.convert_to_tensor(y_true)
        y_pred = keras.ops.convert_to_tensor(y_pred)
        options = self._options
        logits = compat._keras_tf_logits(
            self._xloss_class._name or self._xloss_class._kind,
            y_true,
            y_pred,
            from_logits=options["from_logits"],
            ignore_class=options.get("ignore_class"),
            loss_class=True,
        )
        if logits is not None:
            y_pred, options = logits, {**options, "from_logits": True}
        return type(self)._function(y_true, y_pred, **options)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), **self._options}


def _register(cls: type[_Loss]) -> type[_Loss]:
    return keras.saving.register_keras_serializable(package="xloss")(cls)


@_register
class CategoricalCrossentropy(_Loss):
    """`xloss.categorical_crossentropy` as a ``keras.losses.Loss``.

    Args:
        from_logits: whether ``y_pred`` holds logits rather than probabilities.
        label_smoothing: in [0, 1].
        axis: the class axis.
        reduction: Keras's: ``"sum_over_batch_size"`` (default), ``"sum"``, ``"mean"``,
            ``"mean_with_sample_weight"`` or ``None``/``"none"``.
        name: the loss's name.
        dtype: the dtype Keras converts the inputs to (default ``keras.backend.floatx()``).

    Examples:
        >>> import numpy as np
        >>> from xloss.integrations import keras as xloss_keras
        >>> loss = xloss_keras.CategoricalCrossentropy(from_logits=True)
        >>> y_true = np.array([[0.0, 1.0], [1.0, 0.0]], np.float32)
        >>> round(float(loss(y_true, np.array([[0.0, 2.0], [0.0, 2.0]], np.float32))), 4)
        1.1269
    """

    _xloss_class = xloss.CategoricalCrossentropy
    _function = staticmethod(xloss.categorical_crossentropy)

    def __init__(
        self,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
        reduction: str | None = "sum_over_batch_size",
        name: str = "categorical_crossentropy",
        dtype: Any = None,
    ) -> None:
        super().__init__(
            name=name,
            reduction=reduction,
            dtype=dtype,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
        )


@_register
class SparseCategoricalCrossentropy(_Loss):
    """`xloss.sparse_categorical_crossentropy` as a ``keras.losses.Loss``.

    Keras hands a loss its labels as floats; they are cast to integers here. Positions
    labelled ``ignore_class`` get loss 0 and are masked, so that Keras leaves them out of the
    mean, as it does for its own loss.

    Args:
        from_logits: whether ``y_pred`` holds logits rather than probabilities.
        ignore_class: a label value to leave out, or None.
        reduction: as for `CategoricalCrossentropy`.
        axis: the class axis (any axis, on every Keras backend).
        name: the loss's name.
        dtype: the dtype Keras converts the inputs to.

    Examples:
        >>> import numpy as np
        >>> from xloss.integrations import keras as xloss_keras
        >>> loss = xloss_keras.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1)
        >>> logits = np.array([[2.0, 0.0], [0.0, 2.0], [5.0, 5.0]], np.float32)
        >>> round(float(loss(np.array([0, 1, -1]), logits)), 4)
        0.1269
    """

    _xloss_class = xloss.SparseCategoricalCrossentropy
    _function = staticmethod(xloss.sparse_categorical_crossentropy)

    def __init__(
        self,
        from_logits: bool = False,
        ignore_class: int | None = None,
        reduction: str | None = "sum_over_batch_size",
        axis: int = -1,
        name: str = "sparse_categorical_crossentropy",
        dtype: Any = None,
    ) -> None:
        super().__init__(
            name=name,
            reduction=reduction,
            dtype=dtype,
            from_logits=from_logits,
            ignore_class=ignore_class,
            axis=axis,
        )

    def call(self, y_true: Any, y_pred: Any) -> Any:
        labels = keras.ops.cast(y_true, "int32")  # a backend tensor, as `_Loss.call` makes y_pred
        loss = super().call(labels, y_pred)
        ignore_class = self._options["ignore_class"]
        if ignore_class is not None:
            valid = keras.ops.reshape(
                keras.ops.not_equal(labels, ignore_class), keras.ops.shape(loss)
            )
            set_keras_mask(loss, valid)
        return loss


@_register
class BinaryCrossentropy(_Loss):
    """`xloss.binary_crossentropy` as a ``keras.losses.Loss``.

    Args:
        from_logits: whether ``y_pred`` holds logits rather than probabilities.
        label_smoothing: in [0, 1].
        axis: the axis averaged over per sample.
        reduction: as for `CategoricalCrossentropy`.
        name: the loss's name.
        dtype: the dtype Keras converts the inputs to.

    Examples:
        >>> import numpy as np
        >>> from xloss.integrations import keras as xloss_keras
        >>> loss = xloss_keras.BinaryCrossentropy(from_logits=True)
        >>> y_true, logits = np.array([[1.0], [0.0]]), np.array([[3.0], [-3.0]], np.float32)
        >>> round(float(loss(y_true, logits)), 4)
        0.0486
    """

    _xloss_class = xloss.BinaryCrossentropy
    _function = staticmethod(xloss.binary_crossentropy)

    def __init__(
        self,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
        reduction: str | None = "sum_over_batch_size",
        name: str = "binary_crossentropy",
        dtype: Any = None,
    ) -> None:
        super().__init__(
            name=name,
            reduction=reduction,
            dtype=dtype,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
        )


@_register
class BinaryFocalCrossentropy(_Loss):
    """`xloss.compat.keras.binary_focal_crossentropy` as a ``keras.losses.Loss``.

    Args:
        apply_class_balancing: whether to weigh class 1 by ``alpha`` and class 0 by
            ``1 - alpha``.
        alpha: in [0, 1].
        gamma: the focusing parameter, >= 0.
        from_logits: whether ``y_pred`` holds logits rather than probabilities.
        label_smoothing: in [0, 1].
        axis: the axis averaged over per sample.
        reduction: as for `CategoricalCrossentropy`.
        name: the loss's name.
        dtype: the dtype Keras converts the inputs to.

    Examples:
        >>> import numpy as np
        >>> from xloss.integrations import keras as xloss_keras
        >>> loss = xloss_keras.BinaryFocalCrossentropy(gamma=2.0, from_logits=True)
        >>> y_true = np.array([0.0, 1.0, 0.0, 0.0])
        >>> round(float(loss(y_true, np.array([-18.6, 0.51, 2.94, -12.8], np.float32))), 3)
        0.691
    """

    _xloss_class = compat.BinaryFocalCrossentropy
    _function = staticmethod(compat.binary_focal_crossentropy)

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
        dtype: Any = None,
    ) -> None:
        super().__init__(
            name=name,
            reduction=reduction,
            dtype=dtype,
            apply_class_balancing=apply_class_balancing,
            alpha=alpha,
            gamma=gamma,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
        )


@_register
class CategoricalFocalCrossentropy(_Loss):
    """`xloss.compat.keras.categorical_focal_crossentropy` as a ``keras.losses.Loss``.

    Args:
        alpha: the weight of every class (a number), or one weight per class (a list).
        gamma: the focusing parameter, >= 0.
        from_logits: whether ``y_pred`` holds logits rather than probabilities.
        label_smoothing: in [0, 1].
        axis: the class axis.
        reduction: as for `CategoricalCrossentropy`.
        name: the loss's name.
        dtype: the dtype Keras converts the inputs to.

    Examples:
        >>> import numpy as np
        >>> from xloss.integrations import keras as xloss_keras
        >>> loss = xloss_keras.CategoricalFocalCrossentropy()
        >>> y_true = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
        >>> y_pred = np.array([[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]], np.float32)
        >>> round(float(loss(y_true, y_pred)), 4)
        0.2332
    """

    _xloss_class = compat.CategoricalFocalCrossentropy
    _function = staticmethod(compat.categorical_focal_crossentropy)

    def __init__(
        self,
        alpha: float | Any = 0.25,
        gamma: float = 2.0,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
        reduction: str | None = "sum_over_batch_size",
        name: str = "categorical_focal_crossentropy",
        dtype: Any = None,
    ) -> None:
        super().__init__(
            name=name,
            reduction=reduction,
            dtype=dtype,
            alpha=alpha,
            gamma=gamma,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
        )
