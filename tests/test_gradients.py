"""Gradients through each framework's autodiff equal the analytic form ``softmax - target``.

(array-api-strict and NumPy have no autodiff; the training-grade gradient suite builds on this.)
"""

from __future__ import annotations

import data as d
import numpy as np
import pytest
import reference as ref
from checks import tolerance

import xloss


def grad_of(backend, fn, x: np.ndarray) -> np.ndarray:
    """d sum(fn(x)) / dx with the backend's own autodiff."""
    if backend.name == "torch":
        import torch

        t = torch.tensor(x, requires_grad=True)
        fn(t).sum().backward()
        return t.grad.numpy()
    if backend.name == "jax":
        import jax

        return np.asarray(jax.grad(lambda v: fn(v).sum())(x))
    if backend.name == "tensorflow":
        import tensorflow as tf

        v = tf.Variable(x)
        with tf.GradientTape() as tape:
            out = tf.reduce_sum(fn(v))
        return tape.gradient(out, v).numpy()
    raise AssertionError(f"{backend.name} has no automatic differentiation")


AUTODIFF = pytest.mark.backends("jax", "torch", "tensorflow")


@AUTODIFF
def test_sparse_gradient_is_softmax_minus_one_hot_and_zero_when_ignored(backend):
    labels = d.IGNORED  # positions 2 and 5 carry the ignored label -1
    g = grad_of(
        backend,
        lambda x: xloss.sparse_categorical_crossentropy(
            backend.asarray(labels), x, from_logits=True, ignore_class=-1
        ),
        d.LOGITS,
    )
    valid = labels != -1
    expected = (ref.softmax(d.LOGITS) - np.eye(d.C)[np.where(valid, labels, 0)]) * valid[:, None]
    np.testing.assert_allclose(g, expected, rtol=tolerance("float32"), atol=tolerance("float32"))
    assert (g[~valid] == 0).all()


@AUTODIFF
def test_categorical_gradient_is_softmax_minus_target(backend):
    g = grad_of(
        backend,
        lambda x: xloss.categorical_crossentropy(backend.asarray(d.SOFT), x, from_logits=True),
        d.LOGITS,
    )
    expected = ref.softmax(d.LOGITS) * d.SOFT.sum(-1, keepdims=True) - d.SOFT
    np.testing.assert_allclose(g, expected, rtol=tolerance("float32"), atol=tolerance("float32"))


@AUTODIFF
def test_log_sigmoid_gradient_is_sigmoid_of_minus_x(backend):
    """Exact at 0 too, where max/abs-based forms pick framework-dependent subgradients."""
    x = np.array([-1e4, -3.0, 0.0, 2.0, 1e4], np.float32)
    g = grad_of(backend, xloss.log_sigmoid, x)
    np.testing.assert_allclose(g, 0.5 * (1 - np.tanh(x.astype(np.float64) / 2)), atol=1e-7)


@AUTODIFF
def test_binary_gradient_is_sigmoid_minus_target_over_n(backend):
    logits = np.concatenate([d.BINARY_LOGITS, np.array([[1e4, -1e4, 0.0]], np.float32)])
    targets = np.concatenate([d.BINARY_SOFT, np.array([[0.0, 1.0, 1.0]], np.float32)])
    g = grad_of(
        backend,
        lambda x: xloss.binary_crossentropy(backend.asarray(targets), x, from_logits=True),
        logits,
    )
    sigmoid = 0.5 * (1 + np.tanh(logits.astype(np.float64) / 2))
    expected = (sigmoid - targets) / logits.shape[-1]
    np.testing.assert_allclose(g, expected, rtol=tolerance("float32"), atol=tolerance("float32"))
