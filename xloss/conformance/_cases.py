"""The case library: inputs, the xloss call, a float64 reference, and the frameworks' own
functions computing the same quantity. The test suite, ``xloss report`` and
``xloss.conformance.check`` all draw on it."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import xloss
from xloss.conformance import _reference as ref


@dataclass(frozen=True)
class Native:
    """A framework's own function for the quantity a case computes (run on NumPy float32)."""

    label: str  # e.g. "torch.nn.functional.cross_entropy"
    requires: str  # the module that must be installed
    compute: Callable[..., Any]


@dataclass(frozen=True)
class Case:
    name: str
    kind: str  # "activation", "categorical", "sparse", "binary", "top_k", "filter", "metric"
    inputs: tuple[np.ndarray, ...]
    floating: tuple[bool, ...]  # which inputs take the requested dtype
    call: Callable[..., Any]  # xloss on backend arrays
    # float64, on the inputs as the backend holds them; takes ``compute_dtype`` (the dtype xloss
    # computes in, which rounds Keras's clip bounds)
    reference: Callable[..., np.ndarray]
    natives: tuple[Native, ...] = ()
    loss_kwargs: dict[str, Any] = field(default_factory=dict)
    # Where xloss's answer is its own, beyond what the frameworks compute (they differ there):
    # why, in a sentence. `check` shows such a case but does not count it.
    extension: str = ""


_rng = np.random.default_rng(20261126)
N, C = 16, 10
LOGITS = _rng.normal(scale=2.5, size=(N, C)).astype(np.float32)
PROBS = ref.softmax(LOGITS).astype(np.float32)
LABELS = _rng.integers(0, C, size=N)
IGNORED = LABELS.copy()
IGNORED[::5] = -100
ONE_HOT = np.eye(C, dtype=np.float32)[LABELS]
SOFT = _rng.dirichlet(np.ones(C), size=N).astype(np.float32)
LOGITS_3D = _rng.normal(scale=2.5, size=(4, C, 6)).astype(np.float32)
LABELS_3D = _rng.integers(0, C, size=(4, 6))
BINARY = _rng.integers(0, 2, size=(N, 4)).astype(np.float32)
BINARY_LOGITS = _rng.normal(scale=3.0, size=(N, 4)).astype(np.float32)
BINARY_PROBS = (1 / (1 + np.exp(-BINARY_LOGITS))).astype(np.float32)
WEIGHTS = _rng.uniform(0.0, 2.0, size=N).astype(np.float32)
# The inputs below catch the common wrong ports; none draws from `_rng`, so the ones above stay.
# Logits of +-1e4 (rows 8-15): exp overflows without the max shift, and softmax-clip-log caps.
EXTREME = np.concatenate([LOGITS[:8], 1e4 * np.sign(LOGITS[8:])]).astype(np.float32)
# Every third class masked with -inf: a zero target there must contribute 0, not 0 * -inf = nan.
MASKED = LOGITS.copy()
MASKED[:, ::3] = -np.inf
MASKED_LABELS = np.where(LABELS % 3 == 0, LABELS + 1, LABELS) % C
_SOFT_UNMASKED = np.where(np.arange(C) % 3 == 0, 0.0, SOFT)
MASKED_SOFT = (_SOFT_UNMASKED / _SOFT_UNMASKED.sum(-1, keepdims=True)).astype(np.float32)
# Binary logits of +-100 (rows 8-11: log(1 + exp(-x)) overflows in float32 below -88) and +-1e4
# (rows 12-15).
BINARY_EXTREME = np.concatenate(
    [BINARY_LOGITS[:8], 100 * np.sign(BINARY_LOGITS[8:12]), 1e4 * np.sign(BINARY_LOGITS[12:])]
).astype(np.float32)
# Probabilities of exactly 1 on the label (rows 0-3), exactly 0 on it (rows 4-7), and rows with
# zeros (8-15, every third class): Keras's clip to [1e-7, 1 - 1e-7] decides the loss there.
_ZEROED = np.where(np.arange(C) % 3 == 0, 0.0, PROBS)
EDGE_PROBS = np.concatenate(
    [
        np.eye(C)[LABELS[:4]],
        np.eye(C)[(LABELS[4:8] + 1) % C],
        _ZEROED[8:] / _ZEROED[8:].sum(-1, keepdims=True),
    ]
).astype(np.float32)
# Rows scaled by 0.1, 0.5, 2 and 4 (entries above 1 cut to 1: probabilities still), rows 8-15
# with zeros too: Keras renormalises before it clips.
UNNORMALISED = np.minimum(
    np.concatenate([PROBS[:8], _ZEROED[8:]]) * np.tile([0.1, 0.5, 2.0, 4.0], N // 4)[:, None], 1.0
).astype(np.float32)
# Binary probabilities of exactly 0 and 1 (rows 0-7) beside the sigmoid outputs.
BINARY_EDGE_PROBS = np.concatenate(
    [(BINARY_LOGITS[:8] > 0).astype(np.float32), BINARY_PROBS[8:]]
).astype(np.float32)


def _module(name: str) -> Any:
    return importlib.import_module(name)


def _torch_f() -> Any:
    return _module("torch").nn.functional


def _t(x: np.ndarray) -> Any:
    return _module("torch").from_numpy(np.ascontiguousarray(x))


def _keras() -> Any:
    return _module("keras")


def _tf() -> Any:
    return _module("tensorflow")


def _optax() -> Any:
    return _module("optax")


def _np(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().numpy()
    elif hasattr(x, "numpy") and not isinstance(x, np.ndarray):
        x = x.numpy()
    return np.asarray(x, dtype=np.float64)


def _ignore_context(reference: Callable[..., Any]) -> Callable[..., Any]:
    return lambda *inputs, **context: reference(*inputs)


def _activation_cases() -> list[Case]:
    natives = {
        "softmax": (
            Native("torch.softmax", "torch", lambda x: _module("torch").softmax(_t(x), -1)),
            Native("jax.nn.softmax", "jax", lambda x: _module("jax").nn.softmax(x)),
            Native("tf.nn.softmax", "tensorflow", lambda x: _tf().nn.softmax(x)),
        ),
        "log_softmax": (
            Native("torch.log_softmax", "torch", lambda x: _module("torch").log_softmax(_t(x), -1)),
            Native("jax.nn.log_softmax", "jax", lambda x: _module("jax").nn.log_softmax(x)),
            Native("tf.nn.log_softmax", "tensorflow", lambda x: _tf().nn.log_softmax(x)),
        ),
        "logsumexp": (
            Native("torch.logsumexp", "torch", lambda x: _module("torch").logsumexp(_t(x), -1)),
            Native("jax.nn.logsumexp", "jax", lambda x: _module("jax").nn.logsumexp(x, -1)),
            Native("tf.reduce_logsumexp", "tensorflow", lambda x: _tf().reduce_logsumexp(x, -1)),
        ),
        "log_sigmoid": (
            Native(
                "torch.nn.functional.logsigmoid", "torch", lambda x: _torch_f().logsigmoid(_t(x))
            ),
            Native("jax.nn.log_sigmoid", "jax", lambda x: _module("jax").nn.log_sigmoid(x)),
            Native("tf.math.log_sigmoid", "tensorflow", lambda x: _tf().math.log_sigmoid(x)),
        ),
    }
    return [
        Case(f"{name}", "activation", (LOGITS,), (True,), getattr(xloss, name),
             _ignore_context(getattr(ref, name)), natives[name])
        for name in ("softmax", "log_softmax", "logsumexp", "log_sigmoid")
    ]  # fmt: skip


def _loss_cases() -> list[Case]:
    cce, scce, bce = (
        xloss.categorical_crossentropy,
        xloss.sparse_categorical_crossentropy,
        xloss.binary_crossentropy,
    )

    def keras_cce(**kw: Any) -> Callable[..., Any]:
        return lambda y, p: _keras().losses.categorical_crossentropy(y, p, **kw)

    def keras_scce(**kw: Any) -> Callable[..., Any]:
        return lambda y, p: _keras().losses.sparse_categorical_crossentropy(y, p, **kw)

    def keras_bce(**kw: Any) -> Callable[..., Any]:
        return lambda y, p: _keras().losses.binary_crossentropy(y, p, **kw)

    def torch_ce(**kw: Any) -> Callable[..., Any]:
        return lambda y, p: _torch_f().cross_entropy(_t(p), _t(y), reduction="none", **kw)

    def torch_bce(y: Any, p: Any) -> Any:
        return _torch_f().binary_cross_entropy_with_logits(_t(p), _t(y), reduction="none").mean(-1)

    def tf_bce(y: Any, p: Any) -> Any:
        return _tf().reduce_mean(_tf().nn.sigmoid_cross_entropy_with_logits(labels=y, logits=p), -1)

    def tf_cce(y: Any, p: Any) -> Any:
        return _tf().nn.softmax_cross_entropy_with_logits(labels=y, logits=p)

    def tf_scce(y: Any, p: Any) -> Any:
        return _tf().nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=p)

    def optax_scce(y: Any, p: Any) -> Any:
        return _optax().softmax_cross_entropy_with_integer_labels(p, y)

    def optax_cce(y: Any, p: Any) -> Any:
        return _optax().softmax_cross_entropy(p, y)

    def optax_safe_cce(y: Any, p: Any) -> Any:
        return _optax().safe_softmax_cross_entropy(p, y)

    def optax_bce(y: Any, p: Any) -> Any:
        return _optax().sigmoid_binary_cross_entropy(p, y).mean(-1)

    torch_native = Native("torch.nn.functional.cross_entropy", "torch", torch_ce())
    # The frameworks' own functions for each loss from logits. Each case lists those that agree
    # with the reference on its inputs (checked by tests/test_conformance.py), and only those.
    cce_logits = (
        Native("keras.losses.categorical_crossentropy", "keras", keras_cce(from_logits=True)),
        torch_native,
        Native("optax.softmax_cross_entropy", "optax", optax_cce),
        Native("tf.nn.softmax_cross_entropy_with_logits", "tensorflow", tf_cce),
    )
    scce_logits = (
        Native("keras.losses.sparse_categorical_crossentropy", "keras",
               keras_scce(from_logits=True)),
        torch_native,
        Native("optax.softmax_cross_entropy_with_integer_labels", "optax", optax_scce),
        Native("tf.nn.sparse_softmax_cross_entropy_with_logits", "tensorflow", tf_scce),
    )  # fmt: skip
    bce_logits = (
        Native("keras.losses.binary_crossentropy", "keras", keras_bce(from_logits=True)),
        Native("torch.nn.functional.binary_cross_entropy_with_logits", "torch", torch_bce),
        Native("optax.sigmoid_binary_cross_entropy", "optax", optax_bce),
        Native("tf.nn.sigmoid_cross_entropy_with_logits", "tensorflow", tf_bce),
    )
    keras_cce_probs = (Native("keras.losses.categorical_crossentropy", "keras", keras_cce()),)
    keras_scce_probs = (
        Native("keras.losses.sparse_categorical_crossentropy", "keras", keras_scce()),
    )
    keras_bce_probs = (Native("keras.losses.binary_crossentropy", "keras", keras_bce()),)
    cases = [
        ("categorical_crossentropy/logits", "categorical", (ONE_HOT, LOGITS),
         {"from_logits": True}, cce_logits),
        ("categorical_crossentropy/extreme-1e4", "categorical", (ONE_HOT, EXTREME),
         {"from_logits": True}, cce_logits),
        # Keras, torch, optax's softmax_cross_entropy and tf.nn give nan there (0 * -inf).
        ("categorical_crossentropy/masked-inf", "categorical", (MASKED_SOFT, MASKED),
         {"from_logits": True}, (
            Native("optax.safe_softmax_cross_entropy", "optax", optax_safe_cce),
        )),
        ("categorical_crossentropy/probabilities", "categorical", (ONE_HOT, PROBS), {},
         keras_cce_probs),
        ("categorical_crossentropy/probabilities-0-and-1", "categorical", (ONE_HOT, EDGE_PROBS),
         {}, keras_cce_probs),
        ("categorical_crossentropy/unnormalised", "categorical", (ONE_HOT, UNNORMALISED), {},
         keras_cce_probs),
        ("categorical_crossentropy/soft+smoothing", "categorical", (SOFT, LOGITS),
         {"from_logits": True, "label_smoothing": 0.1}, (
            Native("keras.losses.categorical_crossentropy", "keras",
                   keras_cce(from_logits=True, label_smoothing=0.1)),
            Native("torch.nn.functional.cross_entropy", "torch", torch_ce(label_smoothing=0.1)),
        )),
        ("sparse_categorical_crossentropy/logits", "sparse", (LABELS, LOGITS),
         {"from_logits": True}, scce_logits),
        # optax's logsumexp(x) - x[y] is off by up to 2.3e-4 here: within the allowance for the
        # inputs' own rounding (eps * 1e4), not within the output's relative tolerance.
        ("sparse_categorical_crossentropy/extreme-1e4", "sparse", (LABELS, EXTREME),
         {"from_logits": True}, scce_logits),
        ("sparse_categorical_crossentropy/masked-inf", "sparse", (MASKED_LABELS, MASKED),
         {"from_logits": True}, scce_logits),
        ("sparse_categorical_crossentropy/probabilities", "sparse", (LABELS, PROBS), {}, ()),
        ("sparse_categorical_crossentropy/probabilities-0-and-1", "sparse",
         (LABELS, EDGE_PROBS), {}, keras_scce_probs),
        # No native: Keras on TensorFlow clips before it renormalises (Keras on JAX, PyTorch and
        # NumPy renormalise first, as its categorical loss and xloss do); torch and optax have
        # no loss from probabilities.
        ("sparse_categorical_crossentropy/unnormalised", "sparse", (LABELS, UNNORMALISED), {},
         ()),
        ("sparse_categorical_crossentropy/ignore_class", "sparse", (IGNORED, LOGITS),
         {"from_logits": True, "ignore_class": -100}, (
            Native("keras.losses.sparse_categorical_crossentropy", "keras",
                   keras_scce(from_logits=True, ignore_class=-100)),
            torch_native,
        )),
        ("sparse_categorical_crossentropy/axis=1", "sparse", (LABELS_3D, LOGITS_3D),
         {"from_logits": True, "axis": 1}, (
            torch_native,
        )),
        ("binary_crossentropy/logits", "binary", (BINARY, BINARY_LOGITS),
         {"from_logits": True}, bce_logits),
        ("binary_crossentropy/extreme", "binary", (BINARY, BINARY_EXTREME),
         {"from_logits": True}, bce_logits),
        # torch's binary_cross_entropy clamps the log at -100 instead of clipping: not listed.
        ("binary_crossentropy/probabilities", "binary", (BINARY, BINARY_PROBS), {},
         keras_bce_probs),
        ("binary_crossentropy/probabilities-0-and-1", "binary", (BINARY, BINARY_EDGE_PROBS), {},
         keras_bce_probs),
    ]  # fmt: skip
    functions: dict[str, tuple[Callable[..., Any], Callable[..., Any]]] = {
        "categorical": (cce, ref.categorical),
        "sparse": (scce, ref.sparse_categorical),
        "binary": (bce, ref.binary),
    }
    out = []
    kwargs: dict[str, Any]
    for name, kind, inputs, kwargs, natives in cases:  # type: ignore[assignment]
        ours, reference = functions[kind]
        out.append(
            Case(
                name,
                kind,
                inputs,
                (kind != "sparse", True),
                lambda y, p, f=ours, kw=kwargs: f(y, p, **kw),
                lambda y, p, f=reference, kw=kwargs, **ctx: f(y, p, **kw, **ctx),
                natives,
                kwargs,
                EXTENSIONS.get(name, ""),
            )
        )
    return out


EXTENSIONS = {
    "categorical_crossentropy/masked-inf": (
        "a zero target on a -inf logit adds 0, as optax's safe_softmax_cross_entropy; Keras, "
        "torch, tf.nn and optax's softmax_cross_entropy give nan (0 * -inf)"
    ),
}
"""The loss cases whose answer is xloss's own (`Case.extension`)."""


def _class_cases() -> list[Case]:
    out = []
    for reduction in ("sum_over_batch_size", "sum", "mean_with_sample_weight", "none"):
        kwargs = {"from_logits": True, "ignore_class": -100, "reduction": reduction}
        keras_loss = Native(
            "keras.losses.SparseCategoricalCrossentropy",
            "keras",
            lambda y, p, w, kw=kwargs: _keras().losses.SparseCategoricalCrossentropy(**kw)(
                y, p, sample_weight=w
            ),
        )
        out.append(
            Case(
                f"SparseCategoricalCrossentropy/{reduction}+sample_weight",
                "sparse-class",
                (IGNORED, LOGITS, WEIGHTS),
                (False, True, True),
                lambda y, p, w, kw=kwargs: xloss.SparseCategoricalCrossentropy(**kw)(y, p, w),
                lambda y, p, w, r=reduction, **ctx: ref.reduce(
                    ref.sparse_categorical(y, p, from_logits=True, ignore_class=-100, **ctx),
                    w,
                    y != -100,
                    r,
                ),
                (keras_loss,),
            )
        )
    return out


def _top_k_cases() -> list[Case]:
    distinct = _rng.permutation(N * 50).reshape(N, 50).astype(np.float32) / 3
    natives = (
        Native("torch.topk", "torch", lambda x: _module("torch").topk(_t(x), 5).values),
        Native("jax.lax.top_k", "jax", lambda x: _module("jax").lax.top_k(x, 5)[0]),
        Native("tf.math.top_k", "tensorflow", lambda x: _tf().math.top_k(x, 5).values),
    )
    return [
        Case("top_k/values", "top_k", (distinct,), (True,), lambda x: xloss.top_k(x, 5).values,
             lambda x, **ctx: ref.top_k(x, 5)[0], natives),
        Case("top_k/indices", "top_k", (distinct,), (True,), lambda x: xloss.top_k(x, 5).indices,
             lambda x, **ctx: ref.top_k(x, 5)[1].astype(np.float64)),
        Case("top_p_filter", "filter", (LOGITS,), (True,), lambda x: xloss.top_p_filter(x, 0.8),
             lambda x, **ctx: ref.hf_top_p(x, 0.8)),
        Case("min_p_filter", "filter", (LOGITS,), (True,), lambda x: xloss.min_p_filter(x, 0.1),
             lambda x, **ctx: ref.hf_min_p(x, 0.1)),
        Case("sparse_top_k_categorical_accuracy", "metric", (LABELS, LOGITS), (False, True),
             lambda y, p: xloss.sparse_top_k_categorical_accuracy(y, p, k=3),
             lambda y, p, **ctx: (np.sum(p > np.take_along_axis(p, y[:, None], -1), -1) < 3) * 1.0,
             (Native("keras.metrics.sparse_top_k_categorical_accuracy", "keras",
                     lambda y, p: _keras().metrics.sparse_top_k_categorical_accuracy(y, p, k=3)),)),
    ]  # fmt: skip


CASES: tuple[Case, ...] = (
    *_activation_cases(),
    *_loss_cases(),
    *_class_cases(),
    *_top_k_cases(),
)
"""Every case, in report order."""
