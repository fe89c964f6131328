"""Gradients through each framework's autodiff (JAX, PyTorch, TensorFlow; NumPy and
array-api-strict have none): against the analytic form, against each framework's own loss,
against finite differences in float64, and finite where naive forms break.
"""

from __future__ import annotations

import data as d
import numpy as np
import pytest
import reference as ref
from backends import DEVICE, need
from checks import grad_of, tolerance

import xloss

AUTODIFF = pytest.mark.backends("jax", "torch", "tensorflow")
TOL = tolerance("float32")


def close(actual, expected, tol=TOL):
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol)


def sigmoid(x):
    return 0.5 * (1 + np.tanh(np.asarray(x, np.float64) / 2))


# --- analytic forms -----------------------------------------------------------------------------


@AUTODIFF
def test_sparse_gradient_is_softmax_minus_one_hot_and_zero_when_ignored(backend):
    labels = d.IGNORED  # positions 2 and 5 carry the ignored label -1
    g = grad_of(
        backend,
        lambda y, x: xloss.sparse_categorical_crossentropy(y, x, from_logits=True, ignore_class=-1),
        labels,
        d.LOGITS,
        wrt=1,
    )
    valid = labels != -1
    expected = (ref.softmax(d.LOGITS) - np.eye(d.C)[np.where(valid, labels, 0)]) * valid[:, None]
    close(g, expected)
    assert (g[~valid] == 0).all()


@AUTODIFF
def test_categorical_gradient_is_softmax_minus_target(backend):
    fn = lambda y, x: xloss.categorical_crossentropy(y, x, from_logits=True)  # noqa: E731
    g = grad_of(backend, fn, d.SOFT, d.LOGITS, wrt=1)
    close(g, ref.softmax(d.LOGITS) * d.SOFT.sum(-1, keepdims=True) - d.SOFT)
    # and with respect to soft labels: -log_softmax(x), scaled by (1 - ls) with smoothing
    close(grad_of(backend, fn, d.SOFT, d.LOGITS, wrt=0), -ref.log_softmax(d.LOGITS))
    smoothed = lambda y, x: xloss.categorical_crossentropy(  # noqa: E731
        y, x, from_logits=True, label_smoothing=0.2
    )
    close(grad_of(backend, smoothed, d.SOFT, d.LOGITS, wrt=0), -0.8 * ref.log_softmax(d.LOGITS))


_TARGETS_WITH_ZEROS = {  # (logits, targets): one-hot and sparse soft targets, small and large
    "one-hot": (d.LOGITS, d.ONE_HOT),
    "large": (  # past the fused kernels' size switches (JAX's, TensorFlow's XLA body)
        np.random.default_rng(3).normal(size=(80, 1000)).astype(np.float32),
        np.where(np.arange(1000) % 3 == 0, 0.003, 0.0).astype(np.float32)[None].repeat(80, 0),
    ),
}
_TARGET_GRADIENT_LOSSES = {
    "categorical": lambda y, x: xloss.categorical_crossentropy(y, x, from_logits=True),
    "class": lambda y, x: xloss.CategoricalCrossentropy(from_logits=True, reduction="sum")(y, x),
    "compat-keras": lambda y, x: xloss.compat.keras.categorical_crossentropy(
        y, x, from_logits=True
    ),
    "compat-optax-safe": lambda y, x: xloss.compat.optax.safe_softmax_cross_entropy(x, y),
}


@AUTODIFF
@pytest.mark.parametrize("loss", list(_TARGET_GRADIENT_LOSSES))
@pytest.mark.parametrize("case", list(_TARGETS_WITH_ZEROS))
def test_target_gradient_is_minus_log_softmax_where_the_target_is_zero(backend, case, loss):
    """The loss is linear in the targets: d/dy_c = -log_softmax(x)_c for every class, 0 or not
    (torch's cross_entropy, optax, tf.nn and Keras agree); it once was 0 at zero targets."""
    logits, targets = _TARGETS_WITH_ZEROS[case]
    g = grad_of(backend, _TARGET_GRADIENT_LOSSES[loss], targets, logits, wrt=0)
    close(g, -ref.log_softmax(logits))


@AUTODIFF
def test_target_gradient_is_zero_where_a_zero_target_meets_a_masked_class(backend):
    """A class masked with -inf and a zero target adds 0; its target's gradient is 0 (the
    derivative, +inf, would poison a jointly trained teacher), the others' -log_softmax."""
    logits = MASKED
    targets = np.where(np.isfinite(logits), 0.5, 0.0).astype(np.float32)
    targets[2] = [0.0, 0.5, 0.5, 0.0]  # a finite class with a zero target too
    fn = _TARGET_GRADIENT_LOSSES["categorical"]
    g = grad_of(backend, fn, targets, logits, wrt=0)
    finite = np.isfinite(logits)
    close(g[finite], -ref.log_softmax(logits)[finite])
    assert (g[~finite] == 0).all()
    gx = grad_of(backend, fn, targets, logits, wrt=1)
    assert np.isfinite(gx).all() and (gx[~finite] == 0).all()


@AUTODIFF
def test_binary_gradient_is_sigmoid_minus_target_over_n(backend):
    logits = np.concatenate([d.BINARY_LOGITS, np.array([[1e4, -1e4, 0.0]], np.float32)])
    targets = np.concatenate([d.BINARY_SOFT, np.array([[0.0, 1.0, 1.0]], np.float32)])
    fn = lambda z, x: xloss.binary_crossentropy(z, x, from_logits=True)  # noqa: E731
    n = logits.shape[-1]
    close(grad_of(backend, fn, targets, logits, wrt=1), (sigmoid(logits) - targets) / n)
    close(grad_of(backend, fn, targets, logits, wrt=0), -logits.astype(np.float64) / n)


@AUTODIFF
def test_log_sigmoid_gradient_is_sigmoid_of_minus_x(backend):
    """Exact at 0 too, where max/abs-based forms pick framework-dependent subgradients."""
    x = np.array([-1e4, -3.0, 0.0, 2.0, 1e4], np.float32)
    close(grad_of(backend, xloss.log_sigmoid, x), sigmoid(-x), tol=1e-7)


@AUTODIFF
def test_softmax_family_gradients(backend):
    w = np.random.default_rng(1).normal(size=d.LOGITS.shape).astype(np.float32)
    p = ref.softmax(d.LOGITS)
    # d sum(w * softmax(x)) = p * (w - sum(w p));  d sum(w * log_softmax(x)) = w - p sum(w)
    close(
        grad_of(backend, lambda x, w: w * xloss.softmax(x), d.LOGITS, w),
        p * (w - (w * p).sum(-1, keepdims=True)),
    )
    close(
        grad_of(backend, lambda x, w: w * xloss.log_softmax(x), d.LOGITS, w),
        w - p * w.sum(-1, keepdims=True),
    )
    close(grad_of(backend, xloss.logsumexp, d.LOGITS), p)


# --- against each framework's own loss ------------------------------------------------------------

EXTREME = np.array([[1e4, -1e4, 0.0, 5.0], [-1e4, 1e4, 1e4, 0.0], [0.0, 1.0, 2.0, 3.0]], np.float32)
MASKED = np.array(
    [[0.5, -np.inf, 2.0, -np.inf], [-np.inf, 1.0, -np.inf, 3.0], [1.0, 2.0, 3.0, -np.inf]],
    np.float32,
)
LOGIT_CASES = {"random": (d.LOGITS[:, :4], d.LABELS % 4), "extreme-1e4": (EXTREME, [1, 2, 3]),
               "masked-inf": (MASKED, [2, 3, 0])}  # fmt: skip


def _native_sparse_gradient(name: str, logits: np.ndarray, labels) -> np.ndarray:
    """The gradient of the framework's own integer-label cross-entropy, summed."""
    labels = np.asarray(labels)
    if name == "torch":
        torch = need("torch")
        x = torch.tensor(logits, requires_grad=True)
        torch.nn.functional.cross_entropy(x, torch.tensor(labels), reduction="sum").backward()
        return x.grad.numpy()
    if name == "jax":
        jax, optax = need("jax"), need("optax")
        return np.asarray(
            jax.grad(lambda x: optax.softmax_cross_entropy_with_integer_labels(x, labels).sum())(
                logits
            )
        )
    tf = need("tensorflow")
    x = tf.Variable(logits)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, x))
    return tape.gradient(loss, x).numpy()


@AUTODIFF
@pytest.mark.parametrize("case", LOGIT_CASES)
def test_sparse_gradient_matches_the_frameworks_own(backend, case):
    logits, labels = LOGIT_CASES[case]
    ours = grad_of(
        backend,
        lambda y, x: xloss.sparse_categorical_crossentropy(y, x, from_logits=True),
        np.asarray(labels),
        logits,
        wrt=1,
    )
    assert np.isfinite(ours).all()
    close(ours, _native_sparse_gradient(backend.name, logits, labels))


@AUTODIFF
def test_categorical_gradient_with_masked_logits_is_finite(backend):
    """Zero target mass on -inf logits: finite loss and gradient (0 there), as optax's safe form."""
    targets = np.eye(4, dtype=np.float32)[[2, 3, 0]]
    g = grad_of(
        backend,
        lambda y, x: xloss.categorical_crossentropy(y, x, from_logits=True),
        targets,
        MASKED,
        wrt=1,
    )
    assert np.isfinite(g).all()
    expected = np.nan_to_num(ref.softmax(MASKED)) - targets
    close(g, expected)
    assert (g[np.isinf(MASKED)] == 0).all()


@AUTODIFF
@pytest.mark.parametrize("kind", ["categorical", "sparse", "binary"])
def test_probability_gradient_matches_keras_in_the_clip_region(backend, kind):
    """from_logits=False with probabilities at and beyond the 1e-7 clip: Keras's gradient. The
    last row is exactly on the bounds (1e-7 and 1 - 1e-7 in float32), where Keras's TensorFlow
    backend passes the whole gradient through the clip (JAX's ``clip`` would pass half)."""
    keras, tf = need("keras"), need("tensorflow")
    probs = np.array(
        [
            [1.0, 0.0, 0.0],
            [0.9999999, 1e-8, 0.0],
            [0.2, 0.3, 0.5],
            [1e-9, 0.5, 0.5],
            [1e-7, 1 - 1e-7, 0.0],
        ],
        np.float32,
    )
    labels = np.array([0, 1, 2, 0, 0])
    targets = np.eye(3, dtype=np.float32)[labels]
    ours_fn = {
        "categorical": lambda x: xloss.categorical_crossentropy(targets_b(x), x),
        "sparse": lambda x: xloss.sparse_categorical_crossentropy(labels_b(x), x),
        "binary": lambda x: xloss.binary_crossentropy(targets_b(x), x),
    }[kind]

    def targets_b(x):
        return backend.asarray(targets) if backend.name != "tensorflow" else tf.constant(targets)

    def labels_b(x):
        return backend.asarray(labels) if backend.name != "tensorflow" else tf.constant(labels)

    ours = grad_of(backend, ours_fn, probs)
    keras_fn = {
        "categorical": lambda x: keras.losses.categorical_crossentropy(targets, x),
        # Keras's NumPy/JAX/torch rule for the sparse loss is the categorical one on a one-hot.
        "sparse": lambda x: keras.losses.categorical_crossentropy(targets, x),
        "binary": lambda x: keras.losses.binary_crossentropy(targets, x),
    }[kind]
    x = tf.Variable(probs)
    with tf.GradientTape() as tape:
        total = tf.reduce_sum(keras_fn(x))
    expected = tape.gradient(total, x).numpy()
    assert np.isfinite(ours).all()
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())


# --- finite differences in float64 ---------------------------------------------------------------

X64 = d.LOGITS[:3, :4].astype(np.float64)
Y64 = d.SOFT[:3, :4].astype(np.float64) / d.SOFT[:3, :4].sum(-1, keepdims=True)
L64 = d.LABELS[:3] % 4
P64 = ref.softmax(X64 / 4)  # away from 0 and 1: finite differences must not leave [0, 1]
FD_CASES = {
    "softmax": lambda b: (lambda x: xloss.softmax(x), X64),
    "log_softmax": lambda b: (lambda x: xloss.log_softmax(x, axis=0), X64),
    "logsumexp": lambda b: (lambda x: xloss.logsumexp(x), X64),
    "log_sigmoid": lambda b: (lambda x: xloss.log_sigmoid(x), X64),
    "categorical-logits": lambda b: (
        lambda x: xloss.categorical_crossentropy(b.asarray(Y64), x, from_logits=True),
        X64,
    ),
    "categorical-soft-labels": lambda b: (
        lambda y: xloss.categorical_crossentropy(y, b.asarray(X64), from_logits=True),
        Y64,
    ),
    "categorical-probabilities": lambda b: (
        lambda p: xloss.categorical_crossentropy(b.asarray(Y64), p),
        P64,
    ),
    "sparse-logits": lambda b: (
        lambda x: xloss.sparse_categorical_crossentropy(b.asarray(L64), x, from_logits=True),
        X64,
    ),
    "sparse-probabilities": lambda b: (
        lambda p: xloss.sparse_categorical_crossentropy(b.asarray(L64), p),
        P64,
    ),
    "binary-logits": lambda b: (
        lambda x: xloss.binary_crossentropy(b.asarray(Y64), x, from_logits=True),
        X64,
    ),
    "binary-probabilities": lambda b: (lambda p: xloss.binary_crossentropy(b.asarray(Y64), p), P64),
    "class-with-sample-weight": lambda b: (
        lambda x: xloss.SparseCategoricalCrossentropy(from_logits=True)(
            b.asarray(L64), x, sample_weight=b.asarray(np.array([0.5, 2.0, 1.0]))
        ),
        X64,
    ),
}


@AUTODIFF
@pytest.mark.parametrize("case", FD_CASES)
def test_gradient_matches_finite_differences_in_float64(backend, case):
    """torch.autograd.gradcheck, tf.test.compute_gradient, jax.test_util.check_grads."""
    with backend.x64():
        fn, x = FD_CASES[case](backend)
        if backend.name == "torch":
            torch = need("torch")
            leaf = torch.tensor(x, requires_grad=True, device=DEVICE)
            assert torch.autograd.gradcheck(fn, (leaf,))
        elif backend.name == "jax":
            jtu, jnp = need("jax.test_util"), need("jax.numpy")
            # check_grads perturbs with NumPy arithmetic: hand xloss JAX arrays again.
            jtu.check_grads(lambda v: fn(jnp.asarray(v)), (jnp.asarray(x),), order=1, modes=["rev"])
        else:
            tf = need("tensorflow")
            theoretical, numerical = tf.test.compute_gradient(fn, [tf.constant(x)], delta=1e-6)
            close(theoretical[0], numerical[0], tol=1e-6)


def _native_dense_gradient(name: str, kind: str, logits: np.ndarray, targets: np.ndarray):
    """The gradient of the framework's own soft-label or sigmoid cross-entropy, summed."""
    if name == "torch":
        torch = need("torch")
        x = torch.tensor(logits, requires_grad=True)
        f = torch.nn.functional
        if kind == "categorical":
            loss = f.cross_entropy(x, torch.tensor(targets), reduction="sum")
        else:
            loss = f.binary_cross_entropy_with_logits(x, torch.tensor(targets), reduction="sum")
        loss.backward()
        return x.grad.numpy()
    if name == "jax":
        jax, optax = need("jax"), need("optax")
        native = {
            "categorical": optax.softmax_cross_entropy,
            "binary": optax.sigmoid_binary_cross_entropy,
        }[kind]
        return np.asarray(jax.grad(lambda x: native(x, targets).sum())(logits))
    tf = need("tensorflow")
    native = {
        "categorical": tf.nn.softmax_cross_entropy_with_logits,
        "binary": tf.nn.sigmoid_cross_entropy_with_logits,
    }[kind]
    x = tf.Variable(logits)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(native(labels=targets, logits=x))
    return tape.gradient(loss, x).numpy()


@AUTODIFF
@pytest.mark.parametrize("kind", ["categorical", "binary"])
@pytest.mark.parametrize("case", ["random", "extreme-1e4"])
def test_dense_gradient_matches_the_frameworks_own(backend, kind, case):
    logits = LOGIT_CASES[case][0]
    targets = d.SOFT[: len(logits), :4] / d.SOFT[: len(logits), :4].sum(-1, keepdims=True)
    targets = targets.astype(np.float32)
    ours_fn = {
        "categorical": lambda t, x: xloss.categorical_crossentropy(t, x, from_logits=True),
        # xloss's binary loss is a mean over the last axis; the natives are elementwise sums.
        "binary": lambda t, x: xloss.binary_crossentropy(t, x, from_logits=True) * x.shape[-1],
    }[kind]
    ours = grad_of(backend, ours_fn, targets, logits, wrt=1)
    assert np.isfinite(ours).all()
    close(ours, _native_dense_gradient(backend.name, kind, logits, targets))
