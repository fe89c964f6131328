"""A global on/off setting that works as a call and as a context manager."""

from __future__ import annotations

from types import TracebackType

from xloss._validation import check_flag


class Switch:
    """Calling a subclass sets its ``on`` flag; leaving a ``with`` block restores it."""

    on = True

    def __init__(self, enabled: bool) -> None:
        cls = type(self)
        self._previous = cls.on
        cls.on = check_flag(enabled, "enabled")

    def __enter__(self) -> Switch:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        type(self).on = self._previous
