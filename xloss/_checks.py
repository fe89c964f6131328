"""Checks that read values: the label range, and the from_logits mistake.

They run only where values can be read cheaply: eagerly (not under ``jax.jit``,
``tf.function`` or ``torch.compile``) and from host memory, so they never force a device-to-host
synchronisation on an accelerator. ``xloss.value_checks(False)`` switches them off.
"""

from __future__ import annotations

import importlib
import os
import sys
import warnings
from typing import Any

from xloss._dtypes import finfo
from xloss._switch import Switch
from xloss._validation import same_dtype

SAMPLE_ROWS = 8
"""The from_logits heuristics look at up to this many rows of ``y_pred`` (slices along its
class axis; see `_sample_index`), and at one row at least."""

SAMPLE_VALUES = 1 << 15
"""...and at no more rows than hold this many values, so that a wide vocabulary is not read
again in full for them: (8, 131072) float32 probabilities were 8 rows, the whole input, and
the sparse loss's eager call 3.0x the native; one row now. (Fewer made no difference: 8192
values, one row of 8192 classes instead of four, timed within 1% of 32,768 on PyTorch's eager
sparse loss from probabilities, 2048 x 8192, interleaved in one process.)"""

_warned: set[tuple[str, int, str]] = set()
# Frames in these folders are xloss's own; a warning points at the first frame outside them.
_INTERNAL_DIRS = (
    os.path.dirname(os.path.abspath(__file__)) + os.sep,
    os.path.abspath(importlib.import_module("xloss.adapters").__path__[0]) + os.sep,
)


class FromLogitsWarning(UserWarning):
    """``y_pred`` does not look like what ``from_logits`` says it is.

    Silence it with ``warnings.filterwarnings("ignore", category=xloss.FromLogitsWarning)``, or
    switch off every value check with ``xloss.value_checks(False)``.
    """


class value_checks(Switch):
    """Switch the checks that read values on or off, in the calling thread or for a ``with`` block.

    The checks are the label range of the sparse loss and the `FromLogitsWarning`
    heuristics. They are on by default, and skipped by themselves under tracing and for arrays
    in accelerator memory. The setting is the calling thread's, as ``torch.set_grad_enabled``'s
    is: other threads keep theirs (on by default).

    Examples:
        >>> import numpy as np, xloss
        >>> with xloss.value_checks(False):
        ...     loss = xloss.categorical_crossentropy([[0.0, 1.0]], np.array([[-3.0, 3.0]]))
    """


def enabled() -> bool:
    """Whether value checks are on (`value_checks`)."""
    return value_checks.is_on()


def readable(adapter: Any, x: Any) -> Any:
    """``x`` ready for its values to be read, or ``None`` when checks are off, ``x`` is traced
    or lives in accelerator memory."""
    return adapter.readable(x) if value_checks.is_on() else None


def _host(x: Any) -> Any:
    """A readable array as NumPy: a zero-copy view for NumPy, PyTorch (CPU), TensorFlow (eager,
    CPU), JAX (CPU) and array-api-strict; the checks then cost NumPy's per-call overhead, a
    microsecond, not a framework's dispatch."""
    import numpy as np  # a dependency of xloss (and of every framework)

    try:
        host = np.asarray(x)
    except (TypeError, ValueError, RuntimeError):
        return np.from_dlpack(x)
    # An array NumPy does not know (no __array__, no buffer) becomes a 0-d object array: the
    # standard's way in is DLPack, which every Array-API array has.
    return np.from_dlpack(x) if host.dtype.kind == "O" else host


_UNSIGNED = {f"{order}i{size}": f"{order}u{size}" for order in "<>|" for size in (1, 2, 4, 8)}


def check_label_range(xp: Any, labels: Any, num_classes: int, axis: int, ignore_class: Any) -> None:
    """Raise if a label is outside ``[0, num_classes)`` (and not ``ignore_class``).

    ``labels`` must be readable (see `readable`); it is looked at through NumPy."""
    labels = _host(labels)
    if labels.size == 0:
        return
    unsigned = _UNSIGNED.get(labels.dtype.str) if ignore_class is None else None
    # Negative labels read as unsigned are >= num_classes: one maximum finds both kinds (one
    # pass without a temporary; a comparison and `any` took twice as long on 1M labels).
    if unsigned is not None and labels.view(unsigned).max() < num_classes:
        return
    invalid = (labels < 0) | (labels >= num_classes)
    if ignore_class is not None:
        invalid &= labels != ignore_class
    if not invalid.any():
        return
    wrong = labels[invalid]
    low, high = int(wrong.min()), int(wrong.max())
    received = low if low < 0 else high
    hint = (
        f" (or ignore_class={ignore_class})"
        if ignore_class is not None
        else "; to leave positions out (padding), pass ignore_class=<their label>"
    )
    raise ValueError(
        f"`y_true` holds the label {received}, outside [0, {num_classes}): `y_pred` has "
        f"{num_classes} classes along axis {axis}, so labels must be in 0..{num_classes - 1}"
        f"{hint}."
    )


def warn_if_mistaken(
    xp: Any,
    raw_y_pred: Any,
    y_pred: Any,
    axis: int,
    *,
    from_logits: bool,
    kind: str,
    adapter: Any,
) -> None:
    """Warn when ``y_pred`` looks like probabilities with ``from_logits=True``, or the reverse.

    ``y_pred`` is the readable (detached) array; ``raw_y_pred`` is what the caller passed (not
    one that `warn_if_marked` warned about).
    """
    if from_logits and (kind == "binary" or y_pred.shape[axis] == 1):
        return  # the row-sum test needs a softmax over more than one class
    sample = _host_sample(xp, y_pred, axis, adapter)
    if sample.size == 0:  # an empty batch: nothing to judge
        return
    # The minimum first: logits below 0 (nearly always) settle it without the maximum.
    low = float(sample.min())
    if from_logits:
        if not low >= 0.0 or not float(sample.max()) <= 1.0:
            return
        sums = sample.sum(axis=axis, dtype="float64")
        if float(abs(sums - 1.0).max()) <= sum_tolerance(xp, y_pred.dtype):
            _warn(
                "probabilities",
                f"`y_pred` looks like probabilities (values in [0, 1], each row summing to 1 "
                f"along axis {axis}), but from_logits=True.",
            )
        return
    high = float(sample.max())
    if low < 0.0 or high > 1.0:
        _warn(
            "logits",
            f"`y_pred` has values outside [0, 1] (from {low:.4g} to {high:.4g}), so it looks "
            f"like logits, but from_logits=False.",
        )


def is_marked(y_pred: Any) -> bool:
    """Whether ``y_pred`` carries Keras's ``_keras_logits`` marker: the output of a Keras
    softmax or sigmoid activation on its TensorFlow backend (eager tensors, and symbolic ones
    while ``tf.function`` traces)."""
    return getattr(y_pred, "_keras_logits", None) is not None


def warn_if_marked(y_pred: Any, *, from_logits: bool) -> bool:
    """Warn when ``y_pred`` carries Keras's marker with ``from_logits=True``, and say whether it
    did. The marker is an attribute, not a value: looked at wherever the value checks are on,
    on any device (a GPU's tensors included) and while tracing (once per call site, when the
    caller's ``tf.function`` traces)."""
    if not (from_logits and is_marked(y_pred)):
        return False
    _warn(
        "probabilities",
        "`y_pred` is the output of a Keras softmax/sigmoid activation (it carries Keras's "
        "`_keras_logits` marker), but from_logits=True.",
    )
    return True


def sum_tolerance(xp: Any, dtype: Any) -> float:
    """How close to 1 a row of probabilities in ``dtype`` sums: ``max(1e-3, 8 * eps)`` (a
    softmax output rounded to bfloat16 sums only within 2**-8 of 1, past 1e-3)."""
    return max(1e-3, 8.0 * float(finfo(xp, dtype).eps))


_EXPLAIN = {
    "probabilities": (
        " Logits are the raw, unnormalised scores of the last layer, any real numbers; "
        "probabilities are in [0, 1] and sum to 1. With from_logits=True the loss applies "
        "softmax (or sigmoid) itself, so passing probabilities applies it twice and trains "
        "badly, silently. Fix: pass from_logits=False, or drop the final softmax/sigmoid and "
        "keep from_logits=True (more stable). For a full report, run "
        "xloss.diagnose(y_true, y_pred, from_logits=True)."
    ),
    "logits": (
        " With from_logits=False (the default, as in Keras) `y_pred` must hold probabilities "
        "in [0, 1]; they are renormalised and clipped to [1e-7, 1 - 1e-7], which gives wrong "
        "losses and zero gradients for logits. Fix: pass from_logits=True for raw scores "
        "(logits), or apply softmax/sigmoid first. For a full report, run "
        "xloss.diagnose(y_true, y_pred, from_logits=False)."
    ),
}
_SILENCE = (
    " (Silence: warnings.filterwarnings('ignore', category=xloss.FromLogitsWarning); "
    "switch value checks off: xloss.value_checks(False).)"
)


def _host_sample(xp: Any, y_pred: Any, axis: int, adapter: Any) -> Any:
    """The rows the heuristics look at, as a NumPy array."""
    index = _sample_index(y_pred, axis)
    dtype = y_pred.dtype
    wide = same_dtype(dtype, xp.float32) or same_dtype(dtype, xp.float64)
    if wide and adapter.HOST_VIEW:  # NumPy sees the memory: view, slice
        return _host(y_pred)[index]
    if adapter.host_rows is not None:  # the adapter slices (and widens) in one call of its own
        return adapter.host_rows(y_pred, index)
    # Converting may copy the whole array (JAX does): slice first; widen half precision (NumPy
    # has no bfloat16).
    rows = y_pred[index]
    return _host(rows if wide else xp.astype(rows, xp.float32))


def _sample_index(y_pred: Any, axis: int) -> tuple[slice, ...]:
    """At most ``SAMPLE_ROWS`` rows along the class axis (``axis``, non-negative; fewer for
    wide rows, `SAMPLE_VALUES`): the first ones along the longest other axis, at index 0 of
    the others. For ``(N, C)``, the first rows of the batch; for a batch of sequences
    ``(B, T, C)``, the first positions of the first sequence (all ``B`` x 8 rows would be a
    second read of a large input)."""
    shape, ndim = y_pred.shape, y_pred.ndim
    if ndim < 2:
        return (slice(None),) * ndim
    if ndim == 2:
        batch = 1 - axis
    else:
        batch = max((d for d in range(ndim) if d != axis), key=lambda d: shape[d])
    count = min(SAMPLE_ROWS, max(1, SAMPLE_VALUES // max(1, shape[axis])))
    rows = slice(0, min(count, shape[batch]))  # the standard has no stop past the end
    if ndim == 2:
        return (slice(None), rows) if batch else (rows, slice(None))
    return tuple(
        slice(None) if d == axis else rows if d == batch else slice(0, min(1, shape[d]))
        for d in range(ndim)
    )


# The call machinery between a user's line and xloss in the integrations: torch's
# ``Module.__call__`` and Keras's ``Loss.__call__`` (and its trainers, under ``fit``).
_CALLERS = ("torch.nn.modules", "keras.src")


def _warn(kind: str, evidence: str) -> None:
    """`warn_once` with the explanation and the fix for ``kind``'s mistake."""
    warn_once(evidence + _EXPLAIN[kind] + _SILENCE, kind)


def warn_once(message: str, kind: str) -> None:
    """A `FromLogitsWarning` at the call site of the public function (the first frame outside
    xloss and the frameworks' call machinery, `_CALLERS`), once per site and ``kind``.

    Once per site, not per message as Python's ``"default"`` action would (the evidence quotes
    the values, which change with every batch of a loop), but as the warnings filters decide:
    a site is remembered only when the warning is shown under ``"default"``, ``"module"`` or
    ``"once"``; an ignored warning (``catch_warnings`` + ``"ignore"``) is not remembered, an
    ``"always"`` filter shows every one, and ``"error"`` raises at every call (remembering the
    first made a retry pass silently), whatever the site showed before (``pytest.warns``
    after an earlier test's warning at the same line).
    """
    files = (getattr(sys.modules.get(name), "__file__", None) for name in _CALLERS)
    skipped = _INTERNAL_DIRS + tuple(
        os.path.dirname(os.path.abspath(file)) + os.sep for file in files if file
    )
    frame, level = sys._getframe(0), 1
    while frame.f_back is not None and frame.f_code.co_filename.startswith(skipped):
        frame, level = frame.f_back, level + 1
    action = _filter_action(message, frame.f_globals.get("__name__", ""), frame.f_lineno)
    if action == "ignore":
        return
    if action not in ("always", "error"):  # looked up first: a later "always" shows again
        site = (frame.f_code.co_filename, frame.f_lineno, kind)
        if site in _warned:
            return
        _warned.add(site)
    warnings.warn(message, FromLogitsWarning, stacklevel=level)


def _filter_action(message: str, module: str, lineno: int) -> str:
    """The action of the first of ``warnings.filters`` that matches a `FromLogitsWarning` with
    ``message`` from ``module``'s line ``lineno``, as Python's ``warnings.warn`` picks it."""
    for action, text, category, where, line in warnings.filters:
        if (
            (text is None or text.match(message))
            and issubclass(FromLogitsWarning, category)
            and (where is None or where.match(module))
            and (line == 0 or line == lineno)
        ):
            return str(action)
    return str(getattr(warnings, "defaultaction", "default"))
