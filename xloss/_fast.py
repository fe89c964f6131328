"""Native kernels: where a backend has a fused kernel that gives the generic body's answer.

Each public function names the computation it needs (``"softmax"``, ``"sparse"``, ...) and
passes its generic Array-API body; `run` asks the backend's adapter for a faster way
(``adapter.kernel``), which returns ``None`` to decline. The generic body is the definition:
the test suite runs every kernel against it (``xloss.fast_paths(False)`` forces the generic
body) and checks they agree, values and gradients.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any

_enabled = True


class fast_paths:
    """Use backends' native kernels (the default) or only the generic Array-API bodies.

    The answers agree (the test suite proves it on every backend); switching the kernels off
    is for debugging and for comparing the two. Works globally or as a context manager.

    Examples:
        >>> import numpy as np, xloss
        >>> x = np.array([[2.0, 0.5, -1.0]])
        >>> loss = xloss.sparse_categorical_crossentropy([0], x, from_logits=True)
        >>> with xloss.fast_paths(False):
        ...     generic = xloss.sparse_categorical_crossentropy([0], x, from_logits=True)
        >>> bool(np.allclose(loss, generic))
        True
    """

    def __init__(self, enabled: bool) -> None:
        global _enabled
        self._previous = _enabled
        _enabled = bool(enabled)

    def __enter__(self) -> fast_paths:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        global _enabled
        _enabled = self._previous


def run(
    adapter: Any,
    name: str,
    generic: Callable[..., Any],
    xp: Any,
    *args: Any,
    readable: bool = False,
    checked: bool = False,
    **options: Any,
) -> Any:
    """``generic(xp, *args, **options)``, or the adapter's kernel for ``name`` if it has one.

    ``readable``: the arrays are eager and in host memory, so a kernel may branch on values.
    ``checked``: the sparse labels were checked to be in range (or ignored).
    """
    kernel = getattr(adapter, "kernel", None) if _enabled else None
    if kernel is not None:
        out = kernel(name, generic, xp, *args, readable=readable, checked=checked, **options)
        if out is not None:
            return out
    return generic(xp, *args, **options)
