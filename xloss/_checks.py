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
from types import TracebackType
from typing import Any

SAMPLE_ROWS = 8
"""The from_logits heuristics look at this many rows of ``y_pred``: cheap on any batch."""

_enabled = True
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


class value_checks:
    """Switch the checks that read values on or off, globally or for a ``with`` block.

    The checks are the label range of the sparse loss and the `FromLogitsWarning`
    heuristics. They are on by default, and skipped by themselves under tracing and for arrays
    in accelerator memory.

    Examples:
        >>> import numpy as np, xloss
        >>> with xloss.value_checks(False):
        ...     loss = xloss.categorical_crossentropy([[0.0, 1.0]], np.array([[-3.0, 3.0]]))
    """

    def __init__(self, enabled: bool) -> None:
        global _enabled
        self._previous = _enabled
        _enabled = bool(enabled)

    def __enter__(self) -> value_checks:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        global _enabled
        _enabled = self._previous


def enabled() -> bool:
    """Whether value checks are on (`value_checks`)."""
    return _enabled


def readable(adapter: Any, x: Any) -> Any:
    """``x`` ready for its values to be read, or ``None`` when checks are off, ``x`` is traced
    or lives in accelerator memory."""
    return adapter.readable(x) if _enabled else None


def check_label_range(xp: Any, labels: Any, num_classes: int, axis: int, ignore_class: Any) -> None:
    invalid = xp.logical_or(labels < 0, labels >= num_classes)
    if ignore_class is not None:
        invalid = xp.logical_and(invalid, labels != ignore_class)
    if not bool(xp.any(invalid)):
        return
    zero = xp.zeros_like(labels)
    low, high = (
        int(xp.min(xp.where(invalid, labels, zero))),
        int(xp.max(xp.where(invalid, labels, zero))),
    )
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
    xp: Any, raw_y_pred: Any, y_pred: Any, axis: int, *, from_logits: bool, kind: str
) -> None:
    """Warn when ``y_pred`` looks like probabilities with ``from_logits=True``, or the reverse.

    ``y_pred`` is the readable (detached) array; ``raw_y_pred`` is what the caller passed.
    """
    if from_logits and getattr(raw_y_pred, "_keras_logits", None) is not None:
        _warn(
            "probabilities",
            "`y_pred` is the output of a Keras softmax/sigmoid activation (it carries Keras's "
            "`_keras_logits` marker), but from_logits=True.",
        )
        return
    sample = _sample(y_pred, axis)
    low, high = float(xp.min(sample)), float(xp.max(sample))
    if from_logits:
        if kind == "binary" or not (low >= 0.0 and high <= 1.0) or y_pred.shape[axis] == 1:
            return
        sums = xp.sum(sample, axis=axis)
        if float(xp.max(xp.abs(sums - 1.0))) <= 1e-3:
            _warn(
                "probabilities",
                f"`y_pred` looks like probabilities (values in [0, 1], each row summing to 1 "
                f"along axis {axis}), but from_logits=True.",
            )
    elif low < 0.0 or high > 1.0:
        _warn(
            "logits",
            f"`y_pred` has values outside [0, 1] (from {low:.4g} to {high:.4g}), so it looks "
            f"like logits, but from_logits=False.",
        )


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


def _sample(y_pred: Any, axis: int) -> Any:
    """The first ``SAMPLE_ROWS`` along the first non-class axis (the batch, usually)."""
    if y_pred.ndim < 2:
        return y_pred
    batch = 1 if axis == 0 else 0
    rows = slice(0, min(SAMPLE_ROWS, y_pred.shape[batch]))  # the standard has no stop past the end
    index = tuple(rows if d == batch else slice(None) for d in range(y_pred.ndim))
    return y_pred[index]


def _warn(kind: str, evidence: str) -> None:
    """Warn once per call site of the public function (the first frame outside xloss)."""
    frame, level = sys._getframe(0), 1
    while frame.f_back is not None and frame.f_code.co_filename.startswith(_INTERNAL_DIRS):
        frame, level = frame.f_back, level + 1
    site = (frame.f_code.co_filename, frame.f_lineno, kind)
    if site in _warned:
        return
    _warned.add(site)
    warnings.warn(evidence + _EXPLAIN[kind] + _SILENCE, FromLogitsWarning, stacklevel=level)
