"""xloss.integrations.torch: the losses as torch.nn.Modules, against torch.nn's own losses.

Values and gradients equal ``nn.CrossEntropyLoss`` and ``nn.BCEWithLogitsLoss`` where the
semantics coincide; a training loop lowers the loss; ``torch.compile(fullgraph=True)`` traces
the modules; they behave as parameter-free submodules.
"""

from __future__ import annotations

import copy
import pickle
import warnings
from pathlib import Path

import data as d
import numpy as np
import pytest
from backends import need
from checks import tolerance

import xloss
from xloss import _focal
from xloss.compat import keras as compat

torch = need("torch")
xloss_torch = pytest.importorskip("xloss.integrations.torch")
nn = torch.nn

TOL = tolerance("float32")


def assert_close(actual, expected):
    np.testing.assert_allclose(
        actual.detach().numpy().astype(np.float64),
        expected.detach().numpy().astype(np.float64),
        rtol=TOL,
        atol=TOL,
    )


def _soft_targets_3d():
    return torch.from_numpy(d.SOFT_3D)


def _labels_3d():
    labels = torch.from_numpy(d.LABELS_3D.copy())  # from_numpy shares the shared data's memory
    labels[1, 2] = labels[2, 0] = -100
    return labels


# name: (our module, torch's module, targets, logits); torch's takes (input, target).
PAIRS = {
    "categorical-axis1-smoothed": (
        lambda r: xloss_torch.CategoricalCrossentropy(
            from_logits=True, label_smoothing=0.1, axis=1, reduction=r
        ),
        lambda r: nn.CrossEntropyLoss(label_smoothing=0.1, reduction=r),
        _soft_targets_3d,
        lambda: d.LOGITS_3D,
    ),
    "sparse-axis1-ignore": (
        lambda r: xloss_torch.SparseCategoricalCrossentropy(
            from_logits=True, ignore_class=-100, axis=1, reduction=r
        ),
        lambda r: nn.CrossEntropyLoss(ignore_index=-100, reduction=r),
        _labels_3d,
        lambda: d.LOGITS_3D,
    ),
    "sparse-2d": (
        lambda r: xloss_torch.SparseCategoricalCrossentropy(from_logits=True, reduction=r),
        lambda r: nn.CrossEntropyLoss(reduction=r),
        lambda: torch.from_numpy(d.LABELS),
        lambda: d.LOGITS,
    ),
    "binary-column": (
        lambda r: xloss_torch.BinaryCrossentropy(from_logits=True, reduction=r),
        lambda r: nn.BCEWithLogitsLoss(reduction=r),
        lambda: torch.from_numpy(d.BINARY_SOFT[:, :1]),
        lambda: d.BINARY_LOGITS[:, :1],
    ),
    "binary-multilabel": (
        lambda r: xloss_torch.BinaryCrossentropy(from_logits=True, reduction=r),
        lambda r: nn.BCEWithLogitsLoss(reduction=r),
        lambda: torch.from_numpy(d.BINARY_TARGETS),
        lambda: d.BINARY_LOGITS,
    ),
}
# Keras's binary loss averages over the last axis per sample: with several columns its "sum"
# is torch's divided by the column count, so only the mean coincides there.
PAIR_REDUCTIONS = [
    (pair, reduction)
    for pair in PAIRS
    for reduction in ("sum_over_batch_size", "sum")
    if not (pair == "binary-multilabel" and reduction == "sum")
]


@pytest.mark.parametrize(("pair", "reduction"), PAIR_REDUCTIONS)
def test_values_and_gradients_equal_torch_nn(pair, reduction):
    ours_factory, theirs_factory, targets, logits = PAIRS[pair]
    torch_reduction = "mean" if reduction == "sum_over_batch_size" else "sum"
    x_ours = torch.tensor(logits(), requires_grad=True)
    x_theirs = torch.tensor(logits(), requires_grad=True)
    ours = ours_factory(reduction)(targets(), x_ours)
    theirs = theirs_factory(torch_reduction)(x_theirs, targets())
    ours.backward()
    theirs.backward()
    assert ours.shape == theirs.shape == ()
    assert_close(ours, theirs)
    assert_close(x_ours.grad, x_theirs.grad)


def test_sample_weight_and_every_option_reach_the_xloss_class():
    loss = xloss_torch.CategoricalFocalCrossentropy(
        alpha=[0.1, 0.2, 0.3, 0.15, 0.25], gamma=1.0, from_logits=True, reduction="sum"
    )
    weights = torch.from_numpy(d.SAMPLE_WEIGHT)
    y_true, y_pred = torch.from_numpy(d.SOFT), torch.from_numpy(d.LOGITS)
    expected = compat.CategoricalFocalCrossentropy(**loss.get_config())(y_true, y_pred, weights)
    assert_close(loss(y_true, y_pred, weights), expected)
    binary = xloss_torch.BinaryFocalCrossentropy(apply_class_balancing=True, reduction=None)
    probabilities = torch.from_numpy(d.BINARY_PROBS)
    expected = compat.binary_focal_crossentropy(
        torch.from_numpy(d.BINARY_TARGETS), probabilities, apply_class_balancing=True
    )
    assert_close(binary(torch.from_numpy(d.BINARY_TARGETS), probabilities), expected)


def _fit(criterion, targets, steps=30):
    """A linear model trained with ``criterion``; the losses of the first and last steps."""
    torch.manual_seed(0)
    x = torch.randn(128, 6)
    model = nn.Sequential(nn.Linear(6, 4))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = criterion(targets(x), model(x))
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def _teacher(x):
    torch.manual_seed(1)
    return x @ torch.randn(6, 4)


TRAINING = {
    "categorical": (
        xloss_torch.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1),
        lambda x: torch.softmax(2 * _teacher(x), dim=-1),
    ),
    "sparse": (
        xloss_torch.SparseCategoricalCrossentropy(from_logits=True),
        lambda x: _teacher(x).argmax(dim=-1),
    ),
    "binary": (
        xloss_torch.BinaryCrossentropy(from_logits=True),
        lambda x: (_teacher(x) > 0).float(),
    ),
    "categorical-focal": (
        xloss_torch.CategoricalFocalCrossentropy(from_logits=True, alpha=1.0),
        lambda x: torch.nn.functional.one_hot(_teacher(x).argmax(dim=-1), 4).float(),
    ),
}


@pytest.mark.parametrize("name", TRAINING)
def test_training_loop_lowers_the_loss(name):
    criterion, targets = TRAINING[name]
    losses = _fit(criterion, targets)
    assert np.isfinite(losses).all()
    assert losses[-1] < 0.7 * losses[0], losses


def test_compiled_forward_and_backward_equal_eager():
    """Model and xloss loss (ignore_class, sample weights) in one
    torch.compile(fullgraph=True) graph: the loss and the gradients equal the eager ones."""
    criterion = xloss_torch.SparseCategoricalCrossentropy(
        from_logits=True, ignore_class=-100, axis=1, reduction="mean_with_sample_weight"
    )
    labels, weights = _labels_3d(), torch.from_numpy(d.SAMPLE_WEIGHT_3D)
    torch.manual_seed(0)
    layer = nn.Conv1d(5, 5, kernel_size=1)
    x = torch.from_numpy(d.LOGITS_3D)

    def forward(x, labels, weights):
        return criterion(labels, layer(x), weights)

    def loss_and_grad(fn):
        layer.zero_grad()
        loss = fn(x, labels, weights)
        loss.backward()
        return loss, layer.weight.grad.clone()

    eager_loss, eager_grad = loss_and_grad(forward)
    torch._dynamo.reset()
    loss, grad = loss_and_grad(torch.compile(forward, fullgraph=True))
    assert_close(loss, eager_loss)
    assert_close(grad, eager_grad)


def test_exported_and_jit_traced_modules_replay_on_other_batches():
    """``torch.export`` and ``torch.jit.trace`` of a module (``ignore_class``: its label check
    raised under ``jit.trace``) give the eager values on batches of other sizes and labels;
    ``torch.jit.script`` cannot compile them, as the module's docstring says."""
    criterion = xloss_torch.SparseCategoricalCrossentropy(
        from_logits=True, ignore_class=-100, axis=1
    )
    labels, x = _labels_3d(), torch.from_numpy(d.LOGITS_3D)
    example = (labels[:3], x[:3])
    batch = torch.export.Dim("batch", min=2)
    exported = torch.export.export(criterion, example, dynamic_shapes=({0: batch}, {0: batch}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)  # torch 2.13's, for jit.trace
        traced = torch.jit.trace(criterion, example, check_trace=False)
    for rows in (slice(None), slice(1, 3)):
        expected = criterion(labels[rows], x[rows])
        assert_close(exported.module()(labels[rows], x[rows]), expected)
        assert_close(traced(labels[rows], x[rows]), expected)
    with pytest.raises(RuntimeError), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.script(criterion)


def test_modules_are_parameter_free_submodules():
    class Classifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 3))
            self.criterion = xloss_torch.SparseCategoricalCrossentropy(from_logits=True)

        def forward(self, x, labels):
            return self.criterion(labels, self.net(x))

    model = Classifier()
    assert isinstance(model.criterion, nn.Module)
    assert model.criterion.state_dict() == {}
    assert list(model.criterion.parameters()) == []
    assert all(k.startswith("net.") for k in model.state_dict())
    assert "criterion" in dict(model.named_children())
    model.to(torch.float64).eval()
    assert not model.criterion.training
    x, labels = torch.randn(5, 6, dtype=torch.float64), torch.tensor([0, 1, 2, 1, 0])
    value = model(x, labels)
    assert value.dtype == torch.float64 and value.shape == ()
    for clone in (copy.deepcopy(model.criterion), pickle.loads(pickle.dumps(model.criterion))):
        assert repr(clone) == repr(model.criterion)
        assert_close(clone(labels, model.net(x)), value)


CLASSES = [
    "BinaryCrossentropy",
    "BinaryFocalCrossentropy",
    "CategoricalCrossentropy",
    "CategoricalFocalCrossentropy",
    "SparseCategoricalCrossentropy",
]


@pytest.mark.parametrize("name", CLASSES)
def test_same_arguments_config_and_repr_as_the_xloss_class(name):
    import inspect

    module_cls = getattr(xloss_torch, name)
    xloss_cls = getattr(xloss, name, None) or getattr(_focal, name)
    assert inspect.signature(module_cls) == inspect.signature(xloss_cls)
    module, reference = module_cls(), xloss_cls()
    assert module.get_config() == reference.get_config()
    assert repr(module) == repr(reference)
    assert repr(module_cls(**module.get_config())) == repr(module)


def test_bad_arguments_fail_at_construction():
    with pytest.raises(ValueError, match="`label_smoothing` must be in"):
        xloss_torch.CategoricalCrossentropy(label_smoothing=-0.1)
    with pytest.raises(TypeError, match="`ignore_class` must be an int or None"):
        xloss_torch.SparseCategoricalCrossentropy(ignore_class=0.5)
    with pytest.raises(ValueError, match="`reduction` must be one of"):
        xloss_torch.BinaryCrossentropy(reduction="mean_over_batch")
    with pytest.raises(ValueError, match="`alpha` must be in"):
        xloss_torch.BinaryFocalCrossentropy(alpha=2.0)


def test_mistaken_from_logits_warns_once_per_line_of_the_caller():
    """The warning's call site is the caller's line, not torch's ``Module.__call__``: two
    lines, two warnings, each attributed to this file."""
    torch, xt = need("torch"), pytest.importorskip("xloss.integrations.torch")
    loss = xt.SparseCategoricalCrossentropy(from_logits=True)
    probabilities = torch.full((4, 3), 1 / 3)
    labels = torch.tensor([0, 1, 2, 0])
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        loss(labels, probabilities)
        loss(labels, probabilities)
    caught = [w for w in record if w.category is xloss.FromLogitsWarning]
    assert [Path(w.filename).name for w in caught] == [Path(__file__).name] * 2
