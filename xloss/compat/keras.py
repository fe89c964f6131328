"""Keras 3's loss API on any backend's arrays, without importing Keras.

The names, signatures (parameter names, order and defaults, positional calls included), configs
and numbers of ``keras.losses``: probabilities renormalised and clipped to ``[1e-7, 1 - 1e-7]``,
the binary loss averaged over the last axis, label smoothing towards ``1/C`` (categorical) or
``0.5`` (binary), and the reductions ``"sum_over_batch_size"``, ``"sum"``, ``"mean"``,
``"mean_with_sample_weight"`` and ``None``. Each name here is a thin wrapper around xloss's own
loss (`xloss.CategoricalCrossentropy`, `xloss.categorical_crossentropy`, ...; the focal losses
are Keras's formulas step by step); the classes are subclasses of xloss's.

The loss classes take Keras's ``name`` and ``dtype``:

- ``name`` is kept as ``loss.name`` and in the config. ``None`` gives the class's default name
  (Keras appends a counter, ``"categorical_crossentropy_1"``; xloss does not).
- ``dtype`` is the dtype of the computation and of the result. Keras converts ``y_true`` and
  ``y_pred`` to it and returns the loss in it; ``None`` there means ``keras.backend.floatx()``
  (float32), so Keras computes float64 inputs in float32. Here, ``None`` keeps xloss's rule:
  float32 for float16/bfloat16/float32 inputs, float64 for float64 inputs. A float dtype
  (``"float16"``, ``"bfloat16"``, ``"float32"``, ``"float64"``, or Keras's policy names
  ``"mixed_float16"``/``"mixed_bfloat16"``, or a Keras ``DTypePolicy``, whose ``compute_dtype``
  is used) converts ``y_pred`` and floating ``y_true`` to it (as Keras does; integer labels are
  kept), computes (half precision in float32 inside, as xloss always does, where Keras computes
  in half precision), and returns the loss in that dtype. ``loss.dtype`` is ``None`` or the
  dtype's name. The array library must have the dtype (NumPy has no bfloat16; JAX needs x64
  switched on for float64). One difference in float64: Keras turns a per-class ``alpha`` list
  into a float32 tensor, so its focal loss there is off by up to ~4e-8 relative; xloss keeps
  ``alpha`` in the dtype computed in.

The functions take no ``dtype``: they return xloss's dtypes.

As Keras's classes do, the classes read the mask Keras's layers (``Masking``,
``Embedding(mask_zero=True)``) set on their outputs, ``y_pred._keras_mask`` (a boolean array of
the per-sample losses' shape): masked positions add nothing and are left out of the mean, as
``ignore_class`` leaves its positions out.

Keras converts its inputs with ``ops.convert_to_tensor``, so NumPy targets and sample weights
go with any backend's tensors; here too, ``y_true`` and ``sample_weight`` may be NumPy arrays
(or scalars) whatever library ``y_pred`` comes from, and are converted to it, on its device.
Arrays of two other libraries raise ``TypeError``. The sparse losses take floating-point labels
as Keras's backends cast them, truncated toward zero (``1.7`` is class 1); ``nan``, ``inf``,
labels of magnitude ``2**31`` or more, and labels that only truncate to ``ignore_class``
(``-1.5`` for ``-1``: Keras compares before the cast, so it does not ignore them) raise
``ValueError`` eagerly and give ``nan`` under tracing. xloss's own
`xloss.sparse_categorical_crossentropy` keeps refusing floating-point labels.

On TensorFlow tensors, the output of a Keras softmax/sigmoid (which carries Keras's
``_keras_logits`` marker; in a graph, the output of a ``Softmax``/``Sigmoid`` op) is computed
from the logits behind it, as Keras's TensorFlow backend does: in the categorical, sparse
(without ``ignore_class``) and binary cross-entropies and in the binary focal loss's
cross-entropy term, without the 1e-7 clip, and with ``from_logits=True`` too (with a
`xloss.FromLogitsWarning`, where Keras warns). Not where Keras makes a new tensor from
``y_pred`` first: a class's ``dtype`` other than ``y_pred``'s (``None``: Keras's ``floatx()``,
float32), or ranks a class aligns by reshaping ``y_pred``. Other arrays are never read for it
(Keras's other backends clip), nor are xloss's own losses.

Examples:
    >>> import numpy as np
    >>> from xloss.compat import keras
    >>> y_true = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    >>> y_pred = np.array([[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]])
    >>> round(float(keras.CategoricalCrossentropy()(y_true, y_pred)), 4)
    1.1769
    >>> loss = keras.CategoricalCrossentropy(False, 0.1, -1, "sum", "cce", "float32")
    >>> loss.name, loss.dtype, loss(y_true, y_pred).dtype
    ('cce', 'float32', dtype('float32'))
"""

from __future__ import annotations

import copy
import math
import sys
from typing import Any

from xloss import _checks, _focal, _loss_classes, _losses
from xloss._dispatch import Namespace, as_array
from xloss._loss_classes import Loss
from xloss._validation import check_from_logits, check_ignore_class, index_dtype, is_kind
from xloss.compat import _common as c

_FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")
_POLICIES = {"mixed_float16": "float16", "mixed_bfloat16": "bfloat16"}


def _check_name(name: Any, default: str) -> str:
    if name is None:
        return default
    if not isinstance(name, str):
        raise TypeError(f"`name` must be a string or None; received {name!r}.")
    return name


def _check_dtype(dtype: Any) -> str | None:
    """``dtype`` as a float dtype name, or None. A Keras ``DTypePolicy`` gives its compute
    dtype, as Keras uses it."""
    if dtype is None:
        return None
    compute = getattr(dtype, "compute_dtype", None)
    name = compute if isinstance(compute, str) else dtype
    if isinstance(name, str):
        name = _POLICIES.get(name, name)
        if name in _FLOAT_DTYPES:
            return name
    allowed = ", ".join(repr(n) for n in (*_FLOAT_DTYPES, *_POLICIES))
    raise ValueError(
        f"`dtype` must be None or one of {allowed}; received {dtype!r}. It is the dtype the "
        f"loss is computed and returned in; None keeps the inputs' (float32 for half precision)."
    )


def _class_indices(ns: Namespace, y_true: Any, ignore_class: int | None) -> Any:
    """Floating-point labels as Keras's backends cast them (``tf.cast`` to int64, ``jnp.array``
    or ``np.array`` to int32, ``torch.long``): truncated toward zero, so ``1.7`` is class 1 and
    ``-0.5`` class 0. Other labels are returned as they are.

    Keras compares the labels with ``ignore_class`` before the cast: a label equal to it is
    ignored, while one that only truncates to it (``-1.5`` for ``-1``) is not. xloss cannot tell
    the second kind from an ignored label, so such labels raise ``ValueError``, as do ``nan``,
    ``inf`` and labels of magnitude ``2**31`` or more (no class index; Keras's cast of them is
    undefined). Under tracing, where values cannot be read, they give ``nan``.
    """
    xp = ns.xp
    y = as_array(y_true, ns, name="y_true")
    if not is_kind(xp, y.dtype, "real floating"):
        return y_true
    zero = xp.zeros_like(y)
    valid = xp.logical_and(xp.isfinite(y), xp.abs(y) < 2.0**31)
    safe = xp.where(valid, y, zero)
    whole = xp.where(safe < 0, xp.ceil(safe), xp.floor(safe))
    if ignore_class is not None:
        ignored = y == ignore_class
        valid = xp.logical_or(ignored, xp.logical_and(valid, whole != ignore_class))
        whole = xp.where(ignored, xp.full_like(y, ignore_class), whole)
    host = _checks.readable(ns.backend.adapter, y)
    if host is not None:
        wrong = _checks._host(host)[~_checks._host(valid)]
        if wrong.size:
            label = wrong.reshape(-1)[0]
            first = float(label)
            if ignore_class is not None and math.isfinite(first) and abs(first) < 2.0**31:
                why = (
                    f"Keras casts it to {ignore_class}, the ignore_class, without ignoring it "
                    f"(it compares the labels with ignore_class before the cast), which xloss "
                    f"cannot tell from an ignored label"
                )
            else:
                why = "Keras casts floating-point labels to integers, and it is no class index"
            raise ValueError(f"`y_true` holds {label}: {why}. Pass integer class indices.")
    labels = xp.astype(whole, index_dtype(xp))
    bad = -1 if ignore_class is None or ignore_class >= 0 else ignore_class - 1
    return xp.where(valid, labels, xp.full_like(labels, bad))


# The losses whose Keras function reaches Keras's TensorFlow ``_get_logits``: the op type it
# looks for and the function's name. The categorical focal loss computes its own clipped log;
# the binary focal loss's cross-entropy term goes through ``binary_crossentropy``.
_LOGITS_OPS = {
    "categorical": ("Softmax", "categorical_crossentropy"),
    "sparse": ("Softmax", "sparse_categorical_crossentropy"),
    "binary": ("Sigmoid", "binary_crossentropy"),
    "binary_focal": ("Sigmoid", "binary_crossentropy"),
}


def _keras_tf_logits(
    loss: str,
    y_true: Any,
    y_pred: Any,
    *,
    from_logits: Any,
    ignore_class: int | None = None,
    loss_class: bool = False,
    converts: bool = False,
    dtype: str | None = None,
) -> Any:
    """The logits Keras's TensorFlow backend computes ``loss`` from instead of the probabilities
    ``y_pred``, or None where it computes with ``y_pred`` as given.

    ``keras.activations.softmax``/``sigmoid`` on the TensorFlow backend attach their input to
    their output as ``_keras_logits``; in a graph (``tf.function``, ``model.fit``) the output is
    also recognisable by its op, ``Softmax``/``Sigmoid``. Keras's TensorFlow losses
    (``_get_logits`` in ``keras/src/backend/tensorflow/nn.py``) then compute from those logits,
    with ``from_logits=True`` and no 1e-7 clip, so a saturated prediction keeps its loss (60,
    not 16.118) and its gradient. This mirrors that function where Keras calls it: the
    categorical, sparse and binary cross-entropies and the binary focal loss's cross-entropy
    term, for a ``tf.Tensor`` (Keras's other backends, and other arrays carrying the marker, as
    torch tensors may, clip). It does not apply:

    - to the sparse loss with ``ignore_class``: Keras masks ``y_pred`` first (``ops.where``),
      which makes a new tensor, without the marker or the op;
    - to the binary focal loss with ``from_logits=True``: Keras applies ``sigmoid`` itself and
      takes the cross-entropy from ``y_pred`` as logits, which xloss computes already;
    - with ``loss_class``, where Keras's loss class reshapes ``y_pred`` before the function
      (``squeeze_or_expand_to_same_rank``: ``(N,)`` predictions with ``(N, 1)`` targets,
      ``(..., 1)`` predictions with targets of one axis fewer, unless those are 1-D), which
      makes a new tensor too;
    - with ``converts``, where ``y_pred``'s dtype is not ``dtype`` (None: Keras's
      ``floatx()``): Keras's ``Loss.__call__`` casts ``y_pred`` to the loss's dtype first, a new
      tensor again. `xloss.integrations.keras` does not ask: Keras has converted already.

    With ``from_logits=True`` and logits found, Keras warns and uses them; so does this, with a
    `xloss.FromLogitsWarning` (silenced, like the others, by ``xloss.value_checks(False)``). The
    marker is not a value, so this holds under ``tf.function`` too. xloss's own functions
    (``xloss.categorical_crossentropy``, ...) never read the marker for the computation.
    """
    tf = sys.modules.get("tensorflow")  # a tf.Tensor means TensorFlow is imported
    if tf is None or not isinstance(y_pred, tf.Tensor) or loss not in _LOGITS_OPS:
        return None  # (a tf.Variable is no tf.Tensor; Keras excludes it from the op test)
    from_logits = check_from_logits(from_logits)
    if loss == "sparse" and ignore_class is not None:
        return None
    if loss == "binary_focal" and from_logits:
        return None
    op_type, function = _LOGITS_OPS[loss]
    activation = op_type.lower()
    logits = getattr(y_pred, "_keras_logits", None)  # Keras: hasattr (None would fail there)
    source = f"the output of a Keras {activation} (it carries Keras's `_keras_logits` marker)"
    if logits is None and not isinstance(y_pred, tf.__internal__.EagerTensor):
        op = y_pred.op  # a graph tensor: Keras recognises the op that made it (one input)
        if op.type != op_type:
            return None
        logits, source = op.inputs[0], f"made by a TensorFlow {op_type} op"
    if logits is None:
        return None
    if converts and y_pred.dtype.name != (dtype or _keras_floatx()):
        return None
    if loss_class and _reshaped_by_keras(y_true, y_pred):
        return None
    if not isinstance(logits, tf.Tensor):
        logits = tf.convert_to_tensor(logits)  # keras.activations.softmax(np_array)'s marker
    if from_logits and _checks.enabled():
        _checks.warn_once(
            f"`y_pred` is {source}, but from_logits=True. Keras's TensorFlow backend warns and "
            f"computes `{function}` from the logits behind it, and so does this loss: the "
            f"number is right, but Keras's JAX, PyTorch and NumPy backends (and xloss's own "
            f"functions) would apply {activation} a second time. Fix: pass "
            f"from_logits=False, or drop the final activation and keep from_logits=True."
            + _checks._SILENCE,
            "keras_logits",
        )
    return logits


def _reshaped_by_keras(y_true: Any, y_pred: Any) -> bool:
    """Whether Keras's ``squeeze_or_expand_to_same_rank(y_true, y_pred)`` (its loss classes'
    ``call``) replaces ``y_pred`` by a reshaped tensor."""
    true_shape = tuple(y_true.shape) if hasattr(y_true, "shape") else _list_shape(y_true)
    pred_shape = tuple(y_pred.shape)
    true_rank, pred_rank = len(true_shape), len(pred_shape)
    if true_rank == pred_rank + 1 and true_shape[-1] == 1:
        return pred_rank == 1  # Keras expands y_pred (else it squeezes y_true)
    if pred_rank == true_rank + 1 and pred_shape[-1] == 1:
        return true_rank != 1  # Keras squeezes y_pred (else it expands y_true)
    return False


def _list_shape(value: Any) -> tuple[int, ...]:
    """The shape of nested Python lists (or a number's: ``()``), as ``convert_to_tensor``
    gives it."""
    shape: list[int] = []
    while isinstance(value, (list, tuple)):
        shape.append(len(value))
        value = value[0] if value else None
    return tuple(shape)


def _keras_floatx() -> str:
    """Keras's ``floatx()``, the dtype its loss classes convert to by default: ``"float32"``
    unless Keras is imported and set otherwise (this module does not import Keras)."""
    floatx = getattr(getattr(sys.modules.get("keras"), "backend", None), "floatx", None)
    return floatx() if callable(floatx) else "float32"


class _KerasLoss(Loss):
    """Keras's ``name`` and ``dtype`` on top of an xloss loss class (a mixin: it comes first
    in the bases, the xloss class second)."""

    _default_name: str

    def _set_name_and_dtype(self, name: Any, dtype: Any) -> None:
        self.name = _check_name(name, self._default_name)
        self.dtype = _check_dtype(dtype)

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Any:
        """The reduced loss (or the weighted per-sample losses for ``reduction=None``).

        Args:
            y_true: targets, as the matching function takes them.
            y_pred: logits or probabilities.
            sample_weight: optional weights: one per sample (shape ``(N,)``), one per loss value,
                or a scalar. A Python list, a NumPy array or an array of ``y_pred``'s library.

        Returns:
            A scalar array (or the per-sample array for ``reduction=None``) of ``y_pred``'s type
            and device, in ``dtype``; for ``dtype=None`` in float32 (float64 for float64
            predictions).
        """
        # The mask Keras's layers (Masking, Embedding(mask_zero=True)) set on their outputs:
        # read before any conversion, which drops it. Keras leaves masked positions out.
        keras_mask = getattr(y_pred, "_keras_mask", None)
        ns, (y_pred, y_true, sample_weight, keras_mask) = c.adopt(
            y_pred=y_pred, y_true=y_true, sample_weight=sample_weight, mask=keras_mask
        )
        mask = None if keras_mask is None else c.mask(ns, keras_mask, "y_pred._keras_mask")
        if self._kind == "sparse":
            y_true = _class_indices(ns, y_true, self._options["ignore_class"])
        # On TensorFlow, Keras computes from the logits behind a softmax/sigmoid output.
        loss: _KerasLoss = self
        logits = _keras_tf_logits(
            self._name or self._kind,
            y_true,
            y_pred,
            from_logits=self._options["from_logits"],
            ignore_class=self._options.get("ignore_class"),
            loss_class=True,
            converts=True,
            dtype=self.dtype,
        )
        if logits is not None:
            y_pred, loss = logits, self._from_logits()
        if self.dtype is None:
            return loss._reduced(y_true, y_pred, sample_weight, mask)
        xp = ns.xp
        target = getattr(xp, self.dtype, None)
        if target is None and self.dtype == "bfloat16" and ns.backend.name == "numpy":
            target = getattr(sys.modules.get("ml_dtypes"), "bfloat16", None)  # Keras's NumPy's
        if target is None:
            raise TypeError(
                f"`dtype={self.dtype!r}`: {ns.backend.name} arrays have no {self.dtype} dtype. "
                f"Pass dtype=None (the inputs' dtype) or a dtype {ns.backend.name} has."
            )
        y_pred = as_array(y_pred, ns, floating=True, name="y_pred", float_dtype=target)
        if is_kind(xp, y_pred.dtype, ("real floating", "integral", "bool")):
            y_pred = xp.astype(y_pred, target)
        y_true = as_array(y_true, ns, name="y_true", float_dtype=target)
        if is_kind(xp, y_true.dtype, "real floating"):
            y_true = xp.astype(y_true, target)
        result = loss._reduced(y_true, y_pred, sample_weight, mask)
        return result if result.dtype == target else xp.astype(result, target)

    def _from_logits(self) -> _KerasLoss:
        """A copy of this loss with ``from_logits=True``, for the logits `_keras_tf_logits`
        finds (the options are fixed at construction; this one is not kept)."""
        twin = copy.copy(self)
        twin._options = {**self._options, "from_logits": True}
        return twin

    def get_config(self) -> dict[str, Any]:
        """The constructor's arguments, as a dict, Keras's keys first (``name``,
        ``reduction``, the options) and ``dtype`` last: ``type(loss).from_config(config)``
        rebuilds an equal loss, and so does Keras's ``from_config``."""
        options = {k: v for k, v in super().get_config().items() if k != "name"}
        reduction = options.pop("reduction")
        return {"name": self.name, "reduction": reduction, **options, "dtype": self.dtype}


class CategoricalCrossentropy(_KerasLoss, _loss_classes.CategoricalCrossentropy):
    """``keras.losses.CategoricalCrossentropy``: `xloss.CategoricalCrossentropy` with Keras's
    signature, ``name`` and ``dtype``.

    Args:
        from_logits: whether ``y_pred`` holds logits rather than probabilities.
        label_smoothing: in [0, 1]; targets become ``y * (1 - ls) + ls / C``.
            Or a traced JAX scalar (a ``jax.jit`` argument): a traced value is not range-checked.
        axis: the class axis.
        reduction: ``"sum_over_batch_size"`` (default), ``"mean"``, ``"sum"``,
            ``"mean_with_sample_weight"`` or ``None``/``"none"``.
        name: the loss's name (``loss.name``); None gives the default.
        dtype: the dtype computed and returned in; None keeps the inputs' (see the module).

    Examples:
        >>> import numpy as np
        >>> from xloss.compat import keras
        >>> loss = keras.CategoricalCrossentropy(True, 0.0, -1, "sum")
        >>> y_true = np.array([[0.0, 1.0], [1.0, 0.0]])
        >>> logits = np.array([[0.0, 2.0], [0.0, 2.0]])
        >>> round(float(loss(y_true, logits)), 4)
        2.2539
        >>> loss.get_config()["name"]
        'categorical_crossentropy'
    """

    _default_name = "categorical_crossentropy"

    def __init__(
        self,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
        reduction: str | None = "sum_over_batch_size",
        name: str | None = "categorical_crossentropy",
        dtype: Any = None,
    ) -> None:
        super().__init__(
            from_logits=from_logits, label_smoothing=label_smoothing, axis=axis, reduction=reduction
        )
        self._set_name_and_dtype(name, dtype)


class SparseCategoricalCrossentropy(_KerasLoss, _loss_classes.SparseCategoricalCrossentropy):
    """``keras.losses.SparseCategoricalCrossentropy``: `xloss.SparseCategoricalCrossentropy`
    with Keras's signature (``reduction`` before ``axis``), ``name`` and ``dtype``.

    Positions labelled ``ignore_class`` count neither in the sum nor in the divisor of the
    ``"sum_over_batch_size"``/``"mean"`` reductions. The config holds ``axis`` too (Keras's
    leaves it out, so Keras's own round trip loses it).

    Args:
        from_logits: whether ``y_pred`` holds logits rather than probabilities.
        ignore_class: a label value to leave out, or None.
        reduction: as for `CategoricalCrossentropy`.
        axis: the class axis.
        name: the loss's name (``loss.name``); None gives the default.
        dtype: the dtype computed and returned in; None keeps the inputs' (see the module).
            Integer labels stay integers.

    Examples:
        >>> import numpy as np
        >>> from xloss.compat import keras
        >>> loss = keras.SparseCategoricalCrossentropy(True, -100, "sum_over_batch_size")
        >>> logits = np.array([[2.0, 0.0], [0.0, 2.0], [5.0, 5.0]])
        >>> round(float(loss(np.array([0, 1, -100]), logits)), 4)
        0.1269
        >>> round(float(loss(np.array([0.7, 1.9, -100.0]), logits)), 4)  # truncated, as Keras
        0.1269
    """

    _default_name = "sparse_categorical_crossentropy"

    def __init__(
        self,
        from_logits: bool = False,
        ignore_class: int | None = None,
        reduction: str | None = "sum_over_batch_size",
        axis: int = -1,
        name: str | None = "sparse_categorical_crossentropy",
        dtype: Any = None,
    ) -> None:
        super().__init__(
            from_logits=from_logits, ignore_class=ignore_class, axis=axis, reduction=reduction
        )
        self._set_name_and_dtype(name, dtype)


class BinaryCrossentropy(_KerasLoss, _loss_classes.BinaryCrossentropy):
    """``keras.losses.BinaryCrossentropy``: `xloss.BinaryCrossentropy` with Keras's signature,
    ``name`` and ``dtype``.

    Args:
        from_logits: whether ``y_pred`` holds logits rather than probabilities.
        label_smoothing: in [0, 1]; targets become ``z * (1 - ls) + 0.5 * ls``.
            Or a traced JAX scalar (a ``jax.jit`` argument): a traced value is not range-checked.
        axis: the axis averaged over per sample.
        reduction: as for `CategoricalCrossentropy`.
        name: the loss's name (``loss.name``); None gives the default.
        dtype: the dtype computed and returned in; None keeps the inputs' (see the module).

    Examples:
        >>> import numpy as np
        >>> from xloss.compat import keras
        >>> loss = keras.BinaryCrossentropy(True, 0.0, -1, "sum_over_batch_size", "bce")
        >>> round(float(loss(np.array([[1.0], [0.0]]), np.array([[3.0], [-3.0]]))), 4)
        0.0486
        >>> loss
        BinaryCrossentropy(name='bce', reduction='sum_over_batch_size', from_logits=True, \
label_smoothing=0.0, axis=-1, dtype=None)
    """

    _default_name = "binary_crossentropy"

    def __init__(
        self,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
        reduction: str | None = "sum_over_batch_size",
        name: str | None = "binary_crossentropy",
        dtype: Any = None,
    ) -> None:
        super().__init__(
            from_logits=from_logits, label_smoothing=label_smoothing, axis=axis, reduction=reduction
        )
        self._set_name_and_dtype(name, dtype)


class BinaryFocalCrossentropy(_KerasLoss, _focal.BinaryFocalCrossentropy):
    """``keras.losses.BinaryFocalCrossentropy``: `binary_focal_crossentropy` with a Keras 3
    reduction, Keras's signature, ``name`` and ``dtype``.

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
        reduction: as for `CategoricalCrossentropy`.
        name: the loss's name (``loss.name``); None gives the default.
        dtype: the dtype computed and returned in; None keeps the inputs' (see the module).

    Examples:
        >>> import numpy as np
        >>> from xloss.compat import keras
        >>> loss = keras.BinaryFocalCrossentropy(gamma=2.0, from_logits=True)
        >>> y_true = np.array([0.0, 1.0, 0.0, 0.0])
        >>> logits = np.array([-18.6, 0.51, 2.94, -12.8])
        >>> round(float(loss(y_true, logits)), 3)
        0.691
    """

    _default_name = "binary_focal_crossentropy"

    def __init__(
        self,
        apply_class_balancing: bool = False,
        alpha: float = 0.25,
        gamma: float = 2.0,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
        reduction: str | None = "sum_over_batch_size",
        name: str | None = "binary_focal_crossentropy",
        dtype: Any = None,
    ) -> None:
        super().__init__(
            apply_class_balancing=apply_class_balancing,
            alpha=alpha,
            gamma=gamma,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
            reduction=reduction,
            name=_check_name(name, self._default_name),
        )
        self._set_name_and_dtype(name, dtype)


class CategoricalFocalCrossentropy(_KerasLoss, _focal.CategoricalFocalCrossentropy):
    """``keras.losses.CategoricalFocalCrossentropy``: `categorical_focal_crossentropy` with a
    Keras 3 reduction, Keras's signature, ``name`` and ``dtype``.

    Args:
        alpha: the weight of every class (a number), or one weight per class (a sequence).
            Or a traced JAX scalar (a ``jax.jit`` argument): a traced value is not range-checked.
        gamma: the focusing parameter, >= 0.
            Or a traced JAX scalar (a ``jax.jit`` argument): a traced value is not range-checked.
        from_logits: whether ``y_pred`` holds logits rather than probabilities.
        label_smoothing: in [0, 1].
            Or a traced JAX scalar (a ``jax.jit`` argument): a traced value is not range-checked.
        axis: the class axis.
        reduction: as for `CategoricalCrossentropy`.
        name: the loss's name (``loss.name``); None gives the default.
        dtype: the dtype computed and returned in; None keeps the inputs' (see the module).

    Examples:
        >>> import numpy as np
        >>> from xloss.compat import keras
        >>> loss = keras.CategoricalFocalCrossentropy()
        >>> y_true = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
        >>> y_pred = np.array([[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]])
        >>> round(float(loss(y_true, y_pred)), 4)
        0.2332
    """

    _default_name = "categorical_focal_crossentropy"

    def __init__(
        self,
        alpha: float | Any = 0.25,
        gamma: float = 2.0,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
        reduction: str | None = "sum_over_batch_size",
        name: str | None = "categorical_focal_crossentropy",
        dtype: Any = None,
    ) -> None:
        super().__init__(
            alpha=alpha,
            gamma=gamma,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
            reduction=reduction,
            name=_check_name(name, self._default_name),
        )
        self._set_name_and_dtype(name, dtype)


def categorical_crossentropy(
    y_true: Any,
    y_pred: Any,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> Any:
    """``keras.losses.categorical_crossentropy``: `xloss.categorical_crossentropy` with
    Keras's signature (options may be positional). One loss per sample.

    Args:
        y_true: one-hot or soft targets with ``y_pred``'s shape.
        y_pred: logits or probabilities, real floating point.
        from_logits: whether ``y_pred`` holds logits rather than probabilities.
        label_smoothing: in [0, 1].
            Or a traced JAX scalar (a ``jax.jit`` argument): a traced value is not range-checked.
        axis: the class axis.

    Returns:
        ``y_pred``'s type and device, with ``axis`` removed (xloss's dtypes).

    Examples:
        >>> import numpy as np
        >>> from xloss.compat import keras
        >>> y_true = np.array([[0.0, 1.0], [1.0, 0.0]])
        >>> keras.categorical_crossentropy(y_true, np.array([[0.0, 2.0], [0.0, 2.0]]), True)
        array([0.12692801, 2.12692801])
    """
    _, (y_pred, y_true) = c.adopt(y_pred=y_pred, y_true=y_true)
    logits = _keras_tf_logits("categorical", y_true, y_pred, from_logits=from_logits)
    if logits is not None:
        y_pred, from_logits = logits, True
    return _losses.categorical_crossentropy(
        y_true, y_pred, from_logits=from_logits, label_smoothing=label_smoothing, axis=axis
    )


def sparse_categorical_crossentropy(
    y_true: Any,
    y_pred: Any,
    from_logits: bool = False,
    ignore_class: int | None = None,
    axis: int = -1,
) -> Any:
    """``keras.losses.sparse_categorical_crossentropy``:
    `xloss.sparse_categorical_crossentropy` with Keras's signature (options may be
    positional). One loss per sample; 0 where the label is ``ignore_class``.

    Args:
        y_true: class indices, ``y_pred``'s shape without the class axis: integers, or
            floating-point numbers truncated toward zero as Keras casts them (see the module).
        y_pred: logits or probabilities, real floating point.
        from_logits: whether ``y_pred`` holds logits rather than probabilities.
        ignore_class: a label value to leave out, or None.
        axis: the class axis.

    Returns:
        ``y_pred``'s type and device, with ``axis`` removed (xloss's dtypes).

    Raises:
        ValueError: a label is out of range, or a floating-point label is ``nan``, infinite,
            or truncates to ``ignore_class`` without equalling it (checked eagerly; under
            tracing that position gives ``nan``).

    Examples:
        >>> import numpy as np
        >>> from xloss.compat import keras
        >>> logits = np.array([[2.0, 0.0], [0.0, 2.0]])
        >>> keras.sparse_categorical_crossentropy(np.array([0, -1]), logits, True, -1)
        array([0.12692801, 0.        ])
        >>> keras.sparse_categorical_crossentropy(np.array([0.5, -1.0]), logits, True, -1)
        array([0.12692801, 0.        ])
    """
    ns, (y_pred, y_true) = c.adopt(y_pred=y_pred, y_true=y_true)
    ignore_class = check_ignore_class(ignore_class)
    y_true = _class_indices(ns, y_true, ignore_class)
    logits = _keras_tf_logits(
        "sparse", y_true, y_pred, from_logits=from_logits, ignore_class=ignore_class
    )
    if logits is not None:
        y_pred, from_logits = logits, True
    return _losses.sparse_categorical_crossentropy(
        y_true, y_pred, from_logits=from_logits, ignore_class=ignore_class, axis=axis
    )


def binary_crossentropy(
    y_true: Any,
    y_pred: Any,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> Any:
    """``keras.losses.binary_crossentropy``: `xloss.binary_crossentropy` with Keras's
    signature (options may be positional). The mean over ``axis``: one loss per sample.

    Args:
        y_true: targets in [0, 1] with ``y_pred``'s shape.
        y_pred: logits or probabilities, real floating point.
        from_logits: whether ``y_pred`` holds logits rather than probabilities.
        label_smoothing: in [0, 1].
            Or a traced JAX scalar (a ``jax.jit`` argument): a traced value is not range-checked.
        axis: the axis averaged over.

    Returns:
        ``y_pred``'s type and device, with ``axis`` removed (xloss's dtypes).

    Examples:
        >>> import numpy as np
        >>> from xloss.compat import keras
        >>> keras.binary_crossentropy(np.array([[1.0], [0.0]]), np.array([[3.0], [-3.0]]), True)
        array([0.04858735, 0.04858735])
    """
    _, (y_pred, y_true) = c.adopt(y_pred=y_pred, y_true=y_true)
    logits = _keras_tf_logits("binary", y_true, y_pred, from_logits=from_logits)
    if logits is not None:
        y_pred, from_logits = logits, True
    return _losses.binary_crossentropy(
        y_true, y_pred, from_logits=from_logits, label_smoothing=label_smoothing, axis=axis
    )


def binary_focal_crossentropy(
    y_true: Any,
    y_pred: Any,
    apply_class_balancing: bool = False,
    alpha: float = 0.25,
    gamma: float = 2.0,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> Any:
    r"""``keras.losses.binary_focal_crossentropy`` with Keras's signature (options may be
    positional). One loss per sample:

    ``\ell = \operatorname{mean}_{axis}\big(w\,(1 - p_t)^\gamma\,\mathrm{bce}(z, p)\big)``,
    ``p_t = z p + (1 - z)(1 - p)``, ``w = alpha`` for class 1 and ``1 - alpha`` for class 0 with
    ``apply_class_balancing`` (else 1); ``bce`` is `binary_crossentropy`'s element-wise term
    (probabilities clipped to ``[1e-7, 1 - 1e-7]`` in the log; from logits the stable form).

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
        axis: the axis averaged over.

    Returns:
        ``y_pred``'s type and device, with ``axis`` removed (xloss's dtypes).

    Examples:
        >>> import numpy as np
        >>> from xloss.compat import keras
        >>> y_true = np.array([[0.0, 1.0], [0.0, 0.0]])
        >>> y_pred = np.array([[0.6, 0.4], [0.4, 0.6]])
        >>> keras.binary_focal_crossentropy(y_true, y_pred, False, 0.25, 2.0).round(4)
        array([0.3299, 0.2058])
    """
    _, (y_pred, y_true) = c.adopt(y_pred=y_pred, y_true=y_true)
    logits = _keras_tf_logits("binary_focal", y_true, y_pred, from_logits=from_logits)
    if logits is not None:
        y_pred, from_logits = logits, True
    return _focal.binary_focal_crossentropy(
        y_true,
        y_pred,
        apply_class_balancing=apply_class_balancing,
        alpha=alpha,
        gamma=gamma,
        from_logits=from_logits,
        label_smoothing=label_smoothing,
        axis=axis,
    )


def categorical_focal_crossentropy(
    y_true: Any,
    y_pred: Any,
    alpha: float | Any = 0.25,
    gamma: float = 2.0,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> Any:
    r"""``keras.losses.categorical_focal_crossentropy`` with Keras's signature (options may be
    positional). One loss per sample:

    ``\ell = -\sum_c \alpha_c (1 - p_c)^\gamma\, y_c \log p_c``, ``p`` being ``y_pred`` (or
    its softmax with ``from_logits=True``) divided by its sum along ``axis`` and clipped to
    ``[1e-7, 1 - 1e-7]``, as Keras does.

    Args:
        y_true: one-hot or soft targets with ``y_pred``'s shape.
        y_pred: logits or probabilities, real floating point.
        alpha: the weight of every class (a number), or one weight per class (a sequence).
            Or a traced JAX scalar (a ``jax.jit`` argument): a traced value is not range-checked.
        gamma: the focusing parameter, >= 0.
            Or a traced JAX scalar (a ``jax.jit`` argument): a traced value is not range-checked.
        from_logits: whether ``y_pred`` holds logits rather than probabilities.
        label_smoothing: in [0, 1].
            Or a traced JAX scalar (a ``jax.jit`` argument): a traced value is not range-checked.
        axis: the class axis.

    Returns:
        ``y_pred``'s type and device, with ``axis`` removed (xloss's dtypes).

    Examples:
        >>> import numpy as np
        >>> from xloss.compat import keras
        >>> y_true = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
        >>> y_pred = np.array([[0.2, 0.7, 0.1], [0.1, 0.85, 0.05]])
        >>> keras.categorical_focal_crossentropy(y_true, y_pred, [0.2, 0.3, 0.5]).round(4)
        array([0.0096, 1.3518])
    """
    _, (y_pred, y_true) = c.adopt(y_pred=y_pred, y_true=y_true)
    return _focal.categorical_focal_crossentropy(
        y_true,
        y_pred,
        alpha=alpha,
        gamma=gamma,
        from_logits=from_logits,
        label_smoothing=label_smoothing,
        axis=axis,
    )


__all__ = [
    "BinaryCrossentropy",
    "BinaryFocalCrossentropy",
    "CategoricalCrossentropy",
    "CategoricalFocalCrossentropy",
    "Loss",
    "SparseCategoricalCrossentropy",
    "binary_crossentropy",
    "binary_focal_crossentropy",
    "categorical_crossentropy",
    "categorical_focal_crossentropy",
    "sparse_categorical_crossentropy",
]
