"""One adapter hook, ``kernel``, for the adapters whose kernels live in a table module.

The table modules (``_numpy_kernels``, ``_torch_kernels``, ``_tensorflow_kernels``) import
xloss's cores, which import the adapters, so the adapters cannot import them; ``xloss``'s
``__init__`` does, last, and they are looked up in ``sys.modules`` (an ``import`` statement in
every call costs about half a microsecond; ``sys.modules`` also traces under
``torch.compile``, where a cache decorator would not).
"""

from __future__ import annotations

import sys
from typing import Any


def run(module: str, name: str, generic: Any, xp: Any, *args: Any, **options: Any) -> Any:
    """The kernel for ``name`` in ``module``'s ``KERNELS`` on ``args``, or ``None`` (no kernel,
    or the kernel declines)."""
    fast = sys.modules[module].KERNELS.get(name)
    return None if fast is None else fast(*args, generic=generic, xp=xp, **options)
