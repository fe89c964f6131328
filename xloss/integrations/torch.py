"""xloss's losses as ``torch.nn.Module`` objects, for a PyTorch training loop.

Each module has the name and the arguments of the xloss loss class it wraps (Keras 3's
semantics and reductions, class axis ``-1`` by default: pass ``axis=1`` for PyTorch's
``(N, C, ...)`` layout) and is called as ``loss(y_true, y_pred, sample_weight=None)`` --
targets first, as in Keras and xloss, not ``(input, target)`` as in ``torch.nn``. The modules
hold no parameters or buffers (an empty ``state_dict``), work as submodules of a model, and
trace under ``torch.compile(fullgraph=True)``, ``torch.export`` and ``torch.jit.trace``;
TorchScript's ``torch.jit.script`` cannot compile them (xloss is Python that dispatches on
array types): script the rest of the model, or use ``torch.compile``.

Importing this module imports PyTorch; ``import xloss`` does not.

Examples:
    >>> import torch
    >>> from xloss.integrations import torch as xloss_torch
    >>> loss = xloss_torch.SparseCategoricalCrossentropy(from_logits=True, axis=1)
    >>> logits = torch.tensor([[2.0, 0.5, -1.0], [0.0, 0.0, 3.0]], requires_grad=True)
    >>> value = loss(torch.tensor([0, 2]), logits)
    >>> value.backward()
    >>> round(value.item(), 4), logits.grad.shape
    (0.1681, torch.Size([2, 3]))
"""

from __future__ import annotations

from typing import Any

import torch

import xloss
from xloss import _focal

__all__ = [
    "BinaryCrossentropy",
    "BinaryFocalCrossentropy",
    "CategoricalCrossentropy",
    "CategoricalFocalCrossentropy",
    "SparseCategoricalCrossentropy",
]


class _Module(torch.nn.Module):
    """A ``torch.nn.Module`` delegating to one xloss loss object, built from the same
    arguments (and so checked by it)."""

    _xloss_class: type[xloss.Loss]

    def __init__(self, **options: Any) -> None:
        super().__init__()
        self.loss = self._xloss_class(**options)

    def forward(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Any:
        """The reduced loss (the weighted per-sample losses for ``reduction=None``).

        Args:
            y_true: targets, as the xloss class takes them.
            y_pred: logits or probabilities, a floating-point tensor.
            sample_weight: optional weights: one per sample, one per loss value, or a scalar.

        Returns:
            A tensor on ``y_pred``'s device, in float32 (float64 for float64 predictions).
        """
        return self.loss(y_true, y_pred, sample_weight)

    def get_config(self) -> dict[str, Any]:
        """The constructor's arguments: ``type(module)(**module.get_config())`` rebuilds it."""
        return self.loss.get_config()

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())


class CategoricalCrossentropy(_Module):
    """`xloss.CategoricalCrossentropy` as a ``torch.nn.Module``.

    Args:
        from_logits: whether ``y_pred`` holds logits rather than probabilities.
        label_smoothing: in [0, 1].
        axis: the class axis: ``-1`` (default) or ``1`` (PyTorch's layout).
        reduction: ``"sum_over_batch_size"`` (default), ``"mean"``, ``"sum"``,
            ``"mean_with_sample_weight"`` or ``None``/``"none"``.

    Examples:
        >>> import torch
        >>> from xloss.integrations import torch as xloss_torch
        >>> loss = xloss_torch.CategoricalCrossentropy(from_logits=True, reduction="sum")
        >>> loss
        CategoricalCrossentropy(from_logits=True, label_smoothing=0.0, axis=-1, reduction='sum')
        >>> y_true = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
        >>> round(loss(y_true, torch.tensor([[0.0, 2.0], [0.0, 2.0]])).item(), 4)
        2.2539
    """

    _xloss_class = xloss.CategoricalCrossentropy

    def __init__(
        self,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
        reduction: str | None = "sum_over_batch_size",
    ) -> None:
        super().__init__(
            from_logits=from_logits, label_smoothing=label_smoothing, axis=axis, reduction=reduction
        )


class SparseCategoricalCrossentropy(_Module):
    """`xloss.SparseCategoricalCrossentropy` as a ``torch.nn.Module``.

    With ``ignore_class=-100`` and ``from_logits=True, axis=1`` it gives the values (and
    gradients) of ``torch.nn.CrossEntropyLoss()``, ignored positions left out of the mean.

    Args:
        from_logits: whether ``y_pred`` holds logits rather than probabilities.
        ignore_class: a label value to leave out (e.g. ``-100``), or None.
        axis: the class axis.
        reduction: as for `CategoricalCrossentropy`.

    Examples:
        >>> import torch
        >>> from xloss.integrations import torch as xloss_torch
        >>> loss = xloss_torch.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-100)
        >>> logits = torch.tensor([[2.0, 0.0], [0.0, 2.0], [5.0, 5.0]])
        >>> round(loss(torch.tensor([0, 1, -100]), logits).item(), 4)
        0.1269
    """

    _xloss_class = xloss.SparseCategoricalCrossentropy

    def __init__(
        self,
        from_logits: bool = False,
        ignore_class: int | None = None,
        axis: int = -1,
        reduction: str | None = "sum_over_batch_size",
    ) -> None:
        super().__init__(
            from_logits=from_logits, ignore_class=ignore_class, axis=axis, reduction=reduction
        )


class BinaryCrossentropy(_Module):
    """`xloss.BinaryCrossentropy` as a ``torch.nn.Module``.

    With ``from_logits=True`` it gives the values and gradients of
    ``torch.nn.BCEWithLogitsLoss()``.

    Args:
        from_logits: whether ``y_pred`` holds logits rather than probabilities.
        label_smoothing: in [0, 1].
        axis: the axis averaged over per sample.
        reduction: as for `CategoricalCrossentropy`.

    Examples:
        >>> import torch
        >>> from xloss.integrations import torch as xloss_torch
        >>> loss = xloss_torch.BinaryCrossentropy(from_logits=True)
        >>> round(loss(torch.tensor([[1.0], [0.0]]), torch.tensor([[3.0], [-3.0]])).item(), 4)
        0.0486
    """

    _xloss_class = xloss.BinaryCrossentropy

    def __init__(
        self,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
        reduction: str | None = "sum_over_batch_size",
    ) -> None:
        super().__init__(
            from_logits=from_logits, label_smoothing=label_smoothing, axis=axis, reduction=reduction
        )


class BinaryFocalCrossentropy(_Module):
    """`xloss.compat.keras.BinaryFocalCrossentropy` as a ``torch.nn.Module``.

    Args:
        apply_class_balancing: whether to weigh class 1 by ``alpha`` and class 0 by
            ``1 - alpha``.
        alpha: in [0, 1].
        gamma: the focusing parameter, >= 0.
        from_logits: whether ``y_pred`` holds logits rather than probabilities.
        label_smoothing: in [0, 1].
        axis: the axis averaged over per sample.
        reduction: as for `CategoricalCrossentropy`.
        name: a name, kept in the config.

    Examples:
        >>> import torch
        >>> from xloss.integrations import torch as xloss_torch
        >>> loss = xloss_torch.BinaryFocalCrossentropy(gamma=2.0, from_logits=True)
        >>> y_true = torch.tensor([0.0, 1.0, 0.0, 0.0])
        >>> round(loss(y_true, torch.tensor([-18.6, 0.51, 2.94, -12.8])).item(), 3)
        0.691
    """

    _xloss_class = _focal.BinaryFocalCrossentropy

    def __init__(
        self,
        apply_class_balancing: bool = False,
        alpha: float = 0.25,
        gamma: float = 2.0,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
        reduction: str | None = "sum_over_batch_size",
        name: str = "binary_focal_crossentropy",
    ) -> None:
        super().__init__(
            apply_class_balancing=apply_class_balancing,
            alpha=alpha,
            gamma=gamma,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
            reduction=reduction,
            name=name,
        )


class CategoricalFocalCrossentropy(_Module):
    """`xloss.compat.keras.CategoricalFocalCrossentropy` as a ``torch.nn.Module``.

    Args:
        alpha: the weight of every class (a number), or one weight per class (a list).
        gamma: the focusing parameter, >= 0.
        from_logits: whether ``y_pred`` holds logits rather than probabilities.
        label_smoothing: in [0, 1].
        axis: the class axis.
        reduction: as for `CategoricalCrossentropy`.
        name: a name, kept in the config.

    Examples:
        >>> import torch
        >>> from xloss.integrations import torch as xloss_torch
        >>> loss = xloss_torch.CategoricalFocalCrossentropy()
        >>> y_true = torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
        >>> round(loss(y_true, torch.tensor([[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]])).item(), 4)
        0.2332
    """

    _xloss_class = _focal.CategoricalFocalCrossentropy

    def __init__(
        self,
        alpha: float | Any = 0.25,
        gamma: float = 2.0,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
        reduction: str | None = "sum_over_batch_size",
        name: str = "categorical_focal_crossentropy",
    ) -> None:
        super().__init__(
            alpha=alpha,
            gamma=gamma,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
            reduction=reduction,
            name=name,
        )
