"""One adapter hook, ``kernel``, for the adapters whose kernels live in a table module.

The table modules (``_numpy_kernels``, ``_torch_kernels``, ``_tensorflow_kernels``) import
xloss's cores, which import the adapters, so the adapters cannot import them; ``xloss``'s
``__init__`` does, last, and they are looked up in ``sys.modules`` (an ``import`` statement in
every call costs about half a microsecond; ``sys.modules`` also traces under
``torch.compile``, where a cache decorator would not). The hook is a closure over the module's
name, not a function that forwards to another: a call level less (0.3 us).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any


def hook(module: str) -> Callable[..., Any]:
    """The adapter's ``kernel(name, generic, xp, *args, **options)``: ``module``'s ``KERNELS``
    entry for ``name`` on ``args``, or ``None`` (no kernel, or the kernel declines)."""

    def kernel(name: str, generic: Any, xp: Any, *args: Any, **options: Any) -> Any:
        fast = sys.modules[module].KERNELS.get(name)
        return None if fast is None else fast(*args, generic=generic, xp=xp, **options)

    kernel.__doc__ = f"The kernel for ``name`` in ``{module}``, or ``None``."
    return kernel
