"""Dtype kinds, read once for every module: NumPy's one-letter kinds (and ml_dtypes' floats,
which NumPy's ``isdtype`` refuses), else the namespace's ``isdtype``. Imports nothing of
xloss, so that dispatch can use it too."""

from __future__ import annotations

import contextlib
import functools
import sys
from typing import Any

_LETTERS: dict[str | tuple[str, ...], str] = {
    "bool": "b",
    "signed integer": "i",
    "unsigned integer": "u",
    "integral": "iu",
    "real floating": "f",
    "complex floating": "c",
}


def is_kind(xp: Any, dtype: Any, kind: str | tuple[str, ...]) -> bool:
    """``xp.isdtype(dtype, kind)``, read from a NumPy dtype's one-letter ``kind`` where it has a
    standard one (NumPy's and JAX's arrays: 0.1 us, where NumPy's ``isdtype`` builds its sets
    in each call, 0.6-0.9 us); other dtypes (bfloat16, PyTorch's, TensorFlow's) ask ``xp``."""
    np = sys.modules.get("numpy")
    if np is not None and isinstance(dtype, np.dtype):
        letter = dtype.kind if dtype.kind in "biufc" else _extension_kind(dtype)
        letters = _LETTERS.get(kind)
        if letters is None:  # a tuple of kinds, seen for the first time
            letters = _LETTERS[kind] = "".join(_LETTERS[k] for k in kind)
        return bool(letter) and letter in letters  # "" (no kind: str, object, ...) is none
    return bool(xp.isdtype(dtype, kind))


@functools.cache  # dtypes are few and hashable; ml_dtypes' finfo takes 0.6 us
def _extension_kind(dtype: Any) -> str:
    """``"f"`` for ml_dtypes' floating types in NumPy arrays (``bfloat16``: what ``np.asarray``
    of a JAX or TensorFlow bfloat16 array holds), whose NumPy ``kind`` is ``"V"`` and which
    NumPy's ``isdtype`` refuses; ``""`` for other non-standard dtypes (no kind)."""
    if dtype.type.__module__ == "ml_dtypes":
        ml_dtypes = sys.modules["ml_dtypes"]
        with contextlib.suppress(ValueError, TypeError):
            ml_dtypes.finfo(dtype)
            return "f"
    return ""


def finfo(xp: Any, dtype: Any) -> Any:
    """``xp.finfo(dtype)``; ml_dtypes' own for its types in NumPy arrays (`_extension_kind`)."""
    np = sys.modules.get("numpy")
    if np is not None and isinstance(dtype, np.dtype) and dtype.type.__module__ == "ml_dtypes":
        return sys.modules["ml_dtypes"].finfo(dtype)
    return xp.finfo(dtype)
