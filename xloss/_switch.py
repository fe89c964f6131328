"""An on/off setting that works as a call and as a context manager, local to the thread.

The state is thread-local, as ``torch.set_grad_enabled``'s is: a ``with`` block in one thread
does not switch the setting for the others, and blocks entered and left in any interleaving
across threads restore what each found (a class attribute shared by the process let two
threads' blocks leave it off for everyone). A `threading.local` rather than a
`contextvars.ContextVar`: ``torch.compile`` traces an attribute of the one (and recompiles when
it changes) and refuses the other's ``get``.
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import ClassVar

from xloss._validation import check_flag


class Switch:
    """Calling a subclass sets its state in the calling thread; leaving a ``with`` block
    restores the state it found."""

    _local: ClassVar[threading.local]

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        cls._local = threading.local()

    def __init__(self, enabled: bool) -> None:
        cls = type(self)
        self._previous = cls.is_on()
        cls._local.on = check_flag(enabled, "enabled")

    @classmethod
    def is_on(cls) -> bool:
        """The setting in the calling thread: on unless switched off there."""
        return getattr(cls._local, "on", True)

    def __enter__(self) -> Switch:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        type(self)._local.on = self._previous
