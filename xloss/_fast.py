"""Native kernels: where a backend has a fused kernel that gives the generic body's answer.

Each public function names the computation it needs (``"softmax"``, ``"sparse"``, ...) and
passes its generic Array-API body; `run` asks the backend's adapter for a faster way
(``adapter.kernel``), which returns ``None`` to decline. The generic body is the definition:
the test suite runs every kernel against it (``xloss.fast_paths(False)`` forces the generic
body) and checks they agree, values and gradients.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from xloss._switch import Switch
from xloss._validation import is_half, to_compute


class fast_paths(Switch):
    """Use backends' native kernels (the default) or only the generic Array-API bodies.

    The answers agree (the test suite proves it on every backend); switching the kernels off
    is for debugging and for comparing the two. Called, it switches the calling thread (as
    ``torch.set_grad_enabled`` does; other threads keep their setting, on by default); as a
    context manager, for the ``with`` block. Compiled functions (``jax.jit``,
    ``tf.function``) keep the choice made when they were traced; ``torch.compile`` recompiles.

    Examples:
        >>> import numpy as np, xloss
        >>> x = np.array([[2.0, 0.5, -1.0]])
        >>> loss = xloss.sparse_categorical_crossentropy([0], x, from_logits=True)
        >>> with xloss.fast_paths(False):
        ...     generic = xloss.sparse_categorical_crossentropy([0], x, from_logits=True)
        >>> bool(np.allclose(loss, generic))
        True
    """


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

    The last positional argument is the floating input, in the caller's dtype: the generic
    body gets it in the compute dtype (half precision is computed in float32); a kernel gets
    it as is when ``name`` is in the adapter's ``TAKES_HALF`` (its kernel upcasts itself, fused
    into the computation: JAX's, under ``jit``), upcast otherwise. The first one, the dense
    targets, may come in half precision too where the adapter sets ``HALF_TARGETS_FROM`` (see
    `xloss._validation.loss_inputs`): upcast alike (`upcast`).
    ``readable``: the arrays are eager and in host memory, so a kernel may branch on values.
    ``checked``: the sparse labels were checked to be in range (or ignored).
    """
    kernel = adapter.kernel if fast_paths.is_on() else None
    targets = adapter.HALF_TARGETS_FROM is not None
    if kernel is not None:
        takes_half = adapter.TAKES_HALF
        if "*" in takes_half or name in takes_half:
            given = args
        else:
            given = upcast(xp, args, targets=targets)
        out = kernel(name, generic, xp, *given, readable=readable, checked=checked, **options)
        if out is not None:
            return out
    return generic(xp, *upcast(xp, args, targets=targets), **options)


def upcast(xp: Any, args: tuple[Any, ...], *, targets: bool = False) -> tuple[Any, ...]:
    """``args`` with the last one (the floating input) in its compute dtype, and with
    ``targets`` the first one too where it holds half precision (targets the validation left
    as given: see `xloss._validation.loss_inputs`)."""
    last = to_compute(xp, args[-1])
    if targets and len(args) > 1 and is_half(xp, args[0]):
        return (to_compute(xp, args[0]), *args[1:-1], last)
    return (*args[:-1], last)
