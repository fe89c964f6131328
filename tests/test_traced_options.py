"""Float hyperparameters traced by the caller's ``jax.jit`` (or ``grad``, ``vmap``).

A JAX user passes a label smoothing, a temperature, a top-p or a focal ``gamma`` as an argument
of the jitted step (a schedule, ``optax.inject_hyperparams``) so that a new value does not
recompile. Such a value is a 0-d tracer: it is taken as it is, unchecked, and the computation
takes the branch that is right for every value (a traced 0 is not assumed to be 0). The result
equals the eager result for the same Python number (the float32 one without x64: what JAX
traces a Python float as): bit for bit for the filters, temperatures and draws, within a few
ulps for the losses (XLA fuses a jitted step otherwise than eager calls, also for a Python
number inside ``jit``).

Options that decide shapes or indices (``k``, ``num_samples``, ``axis``, ``min_keep``,
``ignore_class``) and the switches stay Python values: a tracer there is a ``TypeError`` saying
to make the argument static.
"""

from __future__ import annotations

import contextlib
import importlib

import numpy as np
import pytest
from backends import need
from checks import JaxCompilations

import xloss

_RNG = np.random.default_rng(31)
_X = _RNG.normal(scale=3.0, size=(6, 13)).astype(np.float32)
_X[0, :3] = 4.0  # ties
_PROBS = (np.exp(_X) / np.exp(_X).sum(-1, keepdims=True)).astype(np.float32)
_ONE_HOT = np.eye(13, dtype=np.float32)[[0, 3, 5, 7, 12, 2]]
_BITS = (_X > 1.0).astype(np.float32)
_SATURATED = _BITS.copy()  # probabilities of exactly 0 and 1, right and wrong
_SATURATED[:, 5] = 0.5
_SATURATED[0, :2] = 1.0 - _SATURATED[0, :2]


def _keras():
    return importlib.import_module("xloss.compat.keras")


def _t(array):
    """Targets as a JAX array: xloss's own losses refuse NumPy targets with JAX predictions."""
    return need("jax").numpy.asarray(array)


def _key():
    return need("jax").random.key(5)


_SMOOTHING = (0.05, 0.1, 0.3)
_TEMPERATURE = (0.3, 0.7, 2.5)
_GAMMA = (0.3, 1.7, 2.2)  # multiples of 0.5 are XLA constants for Python numbers: 1 ulp apart
# name: (function of (input, value), input, values, special values: a Python branch for numbers)
CASES = {
    "categorical-label_smoothing": (
        lambda x, v: xloss.categorical_crossentropy(
            _t(_ONE_HOT), x, from_logits=True, label_smoothing=v
        ),
        _X,
        _SMOOTHING,
        (0.0,),
    ),
    "categorical-probabilities-label_smoothing": (
        lambda x, v: xloss.categorical_crossentropy(_t(_ONE_HOT), x, label_smoothing=v),
        _PROBS,
        _SMOOTHING,
        (0.0,),
    ),
    "CategoricalCrossentropy-label_smoothing": (
        lambda x, v: xloss.CategoricalCrossentropy(
            from_logits=True, label_smoothing=v, reduction="sum"
        )(_t(_ONE_HOT), x),
        _X,
        _SMOOTHING,
        (0.0,),
    ),
    "binary-label_smoothing": (
        lambda x, v: xloss.binary_crossentropy(_t(_BITS), x, from_logits=True, label_smoothing=v),
        _X,
        _SMOOTHING,
        (0.0,),
    ),
    "BinaryCrossentropy-label_smoothing": (
        lambda x, v: xloss.BinaryCrossentropy(label_smoothing=v)(_t(_BITS), x),
        _PROBS,
        _SMOOTHING,
        (0.0,),
    ),
    "keras.CategoricalCrossentropy-label_smoothing": (
        lambda x, v: _keras().CategoricalCrossentropy(from_logits=True, label_smoothing=v)(
            _t(_ONE_HOT), x
        ),
        _X,
        _SMOOTHING,
        (0.0,),
    ),
    "keras.binary_focal-label_smoothing": (
        lambda x, v: _keras().binary_focal_crossentropy(_t(_BITS), x, label_smoothing=v),
        _PROBS,
        _SMOOTHING,
        (0.0,),
    ),
    "keras.CategoricalFocalCrossentropy-label_smoothing": (
        lambda x, v: _keras().CategoricalFocalCrossentropy(from_logits=True, label_smoothing=v)(
            _t(_ONE_HOT), x
        ),
        _X,
        _SMOOTHING,
        (0.0,),
    ),
    "keras.binary_focal-gamma": (
        lambda x, v: _keras().binary_focal_crossentropy(
            _t(_BITS), x, gamma=v, apply_class_balancing=True, from_logits=True
        ),
        _X,
        _GAMMA,
        (0.0,),
    ),
    "keras.binary_focal-alpha": (
        lambda x, v: _keras().binary_focal_crossentropy(
            _t(_BITS), x, alpha=v, apply_class_balancing=True
        ),
        _PROBS,
        (0.1, 0.3, 0.9),
        (),
    ),
    "keras.categorical_focal-gamma": (
        lambda x, v: _keras().categorical_focal_crossentropy(_t(_ONE_HOT), x, gamma=v),
        _PROBS,
        _GAMMA,
        (0.0,),
    ),
    "keras.CategoricalFocalCrossentropy-alpha": (
        lambda x, v: _keras().CategoricalFocalCrossentropy(alpha=v, from_logits=True)(
            _t(_ONE_HOT), x
        ),
        _X,
        (0.1, 0.3, 0.9),
        (1.0,),
    ),
    "keras.categorical_focal-alpha-per-class": (
        lambda x, v: _keras().categorical_focal_crossentropy(
            _t(_ONE_HOT), x, alpha=[v, 1.0 - v, *[0.5] * 11]
        ),
        _PROBS,
        (0.1, 0.3, 0.9),
        (),
    ),
    "top_p_filter-p": (lambda x, v: xloss.top_p_filter(x, v), _X, (0.3, 0.6, 0.9), (1.0,)),
    "min_p_filter-p": (
        lambda x, v: xloss.min_p_filter(x, v, min_keep=2),
        _X,
        (0.05, 0.2, 0.5),
        (0.0, 1.0),
    ),
    "top_p_filter-fill_value": (
        lambda x, v: xloss.top_p_filter(x, 0.7, fill_value=v),
        _X,
        (-1e4, -7.25, 3.1),
        (),
    ),
    "top_k_filter-fill_value": (
        lambda x, v: xloss.top_k_filter(x, 4, fill_value=v),
        _X,
        (-1e4, -7.25, 3.1),
        (),
    ),
    "apply_temperature": (
        lambda x, v: xloss.apply_temperature(x, v),
        _X,
        _TEMPERATURE,
        (1.0,),
    ),
    "top_k_softmax-temperature": (
        lambda x, v: xloss.top_k_softmax(x, 5, temperature=v),
        _X * 1e4,  # where the temperature's clip matters
        (1e-38, *_TEMPERATURE),
        (1.0,),
    ),
    "sample-temperature": (
        lambda x, v: xloss.sample(x, _key(), temperature=v, top_k=8, num_samples=5),
        _X,
        _TEMPERATURE,
        (0.0, 1.0),
    ),
    "sample-top_p": (
        lambda x, v: xloss.sample(x, _key(), top_p=v, temperature=0.8, num_samples=5),
        _X,
        (0.3, 0.6, 0.9),
        (1.0,),
    ),
}
# Bit for bit: selections, divisions and draws. The losses within a few ulps: XLA fuses a jitted
# step otherwise than the eager calls (measured: 1-2 ulps, for a Python number inside `jit` too).
EXACT = (
    "top_p_filter-p",
    "min_p_filter-p",
    "top_p_filter-fill_value",
    "top_k_filter-fill_value",
    "apply_temperature",
    "top_k_softmax-temperature",
    "sample-temperature",
    "sample-top_p",
)
ULPS = 8
# mode: (dtype of the input, x64, fast paths)
MODES = {
    "float32": ("float32", False, True),
    "float32-generic": ("float32", False, False),
    "float32-x64": ("float32", True, True),
    "float64-x64": ("float64", True, True),
}


def _context(backend, x64, fast):
    stack = contextlib.ExitStack()
    if x64:
        stack.enter_context(backend.x64())
    if not fast:
        stack.enter_context(xloss.fast_paths(False))
    return stack


def _number(value, dtype, x64):
    """The Python number a traced ``value`` holds: JAX traces a Python float as float32
    unless x64 is on."""
    return value if x64 else float(np.float32(value))


def _assert_same(backend, got, want, *, exact):
    got = got if isinstance(got, tuple) else (got,)
    want = want if isinstance(want, tuple) else (want,)
    for g, w in zip(got, want, strict=True):
        assert g.dtype == w.dtype and g.shape == w.shape
        g, w = backend.to_numpy(g), backend.to_numpy(w)
        if exact:
            np.testing.assert_array_equal(g, w)
        else:
            tol = ULPS * float(np.finfo(g.dtype).eps)
            np.testing.assert_allclose(g, w, rtol=tol, atol=tol)


def _check(backend, case, mode, values):
    jax = need("jax")
    fn, inputs, _, _ = CASES[case]
    dtype, x64, fast = MODES[mode]
    with _context(backend, x64, fast):
        x = jax.numpy.asarray(inputs.astype(dtype))
        jitted = jax.jit(fn)
        for value in values:
            number = _number(value, dtype, x64)
            _assert_same(backend, jitted(x, number), fn(x, number), exact=case in EXACT)


@pytest.mark.backends("jax")
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", CASES)
def test_traced_value_equals_the_python_number(backend, case, mode):
    _check(backend, case, mode, CASES[case][2])


@pytest.mark.backends("jax")
@pytest.mark.parametrize("mode", ["float32", "float64-x64"])
@pytest.mark.parametrize("case", [c for c in CASES if CASES[c][3]])
def test_special_values_take_the_general_branch_to_the_same_bits(backend, case, mode):
    """label_smoothing 0, p 1, temperature 1 (and 0 in `sample`), gamma 0, alpha 1: Python
    numbers skip work there; a traced one cannot, and gives the same bits."""
    _check(backend, case, mode, CASES[case][3])


@pytest.mark.backends("jax")
@pytest.mark.parametrize("case", CASES)
def test_a_float64_traced_value_does_not_promote_float32(backend, case):
    """A float64 value (x64) meets float32 arrays as a Python number does: rounded to
    float32, which the result keeps."""
    jax = need("jax")
    fn, inputs, values, _ = CASES[case]
    with backend.x64():
        x = jax.numpy.asarray(inputs)
        jitted = jax.jit(fn)
        for value in values:
            got = jitted(x, jax.numpy.asarray(value, dtype=jax.numpy.float64))
            _assert_same(backend, got, fn(x, value), exact=case in EXACT)


@pytest.mark.backends("jax")
def test_per_class_alpha_as_a_traced_array(backend):
    jax = need("jax")
    keras = _keras()
    x = jax.numpy.asarray(_X)
    weights = np.linspace(0.1, 0.9, 13).astype(np.float32)

    def loss(x, alpha):
        return keras.categorical_focal_crossentropy(_t(_ONE_HOT), x, alpha=alpha, from_logits=True)

    got = jax.jit(loss)(x, jax.numpy.asarray(weights))
    want = loss(x, [float(w) for w in weights])
    tol = ULPS * float(np.finfo(np.float32).eps)
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=tol, atol=tol)


@pytest.mark.backends("jax")
@pytest.mark.parametrize("case", CASES)
def test_one_program_for_every_value(backend, case):
    jax = need("jax")
    fn, inputs, values, special = CASES[case]
    x = jax.numpy.asarray(inputs)
    jitted = jax.jit(fn)
    first, *others = (*values, *special)
    jitted(x, first)
    with JaxCompilations() as compiled:
        for value in others:
            jitted(x, value)
    assert not compiled, f"{len(compiled)} programs compiled for {len(others)} new values"


# --- gradients --------------------------------------------------------------------------------


def _finite_difference(f, v, h=1e-6):
    return (float(f(v + h)) - float(f(v - h))) / (2 * h)


@pytest.mark.backends("jax")
def test_gradient_with_respect_to_label_smoothing(backend):
    """d/ds of ``-sum_c (y_c (1 - s) + s / C) log p_c`` is ``sum_c (y_c - 1 / C) log p_c``."""
    jax = need("jax")
    with backend.x64():
        x = jax.numpy.asarray(_X.astype(np.float64))

        def loss(s):
            return xloss.CategoricalCrossentropy(from_logits=True, label_smoothing=s)(
                _t(_ONE_HOT), x
            )

        log_p = _X.astype(np.float64) - np.log(np.exp(_X.astype(np.float64)).sum(-1))[:, None]
        want = ((_ONE_HOT.astype(np.float64) - 1.0 / 13) * log_p).sum(-1).mean()
        for s in (0.0, 0.1, 0.4):
            got = jax.jit(jax.grad(loss))(s)
            np.testing.assert_allclose(float(got), want, rtol=1e-12)
            np.testing.assert_allclose(float(got), _finite_difference(jax.jit(loss), s), rtol=1e-7)


@pytest.mark.backends("jax")
@pytest.mark.parametrize(
    "call",
    [
        lambda x, t: xloss.top_k_softmax(x, 5, temperature=t)[0][:, 0].sum(),
        lambda x, t: (xloss.apply_temperature(x, t) ** 2).sum(),
    ],
    ids=["top_k_softmax", "apply_temperature"],
)
def test_gradient_with_respect_to_temperature(backend, call):
    jax = need("jax")
    with backend.x64():
        x = jax.numpy.asarray(_X.astype(np.float64))
        for t in (0.5, 1.0, 2.0):
            got = jax.jit(jax.grad(call, argnums=1))(x, t)
            want = _finite_difference(jax.jit(lambda v: call(x, v)), t)
            np.testing.assert_allclose(float(got), want, rtol=1e-6)


@pytest.mark.backends("jax")
def test_gradient_with_respect_to_gamma(backend):
    jax = need("jax")
    keras = _keras()
    with backend.x64():
        x = jax.numpy.asarray(_PROBS.astype(np.float64))

        def loss(g):
            return keras.binary_focal_crossentropy(_t(_BITS), x, gamma=g).sum()

        for g in (0.0, 1.0, 2.0, 2.7):
            got = jax.jit(jax.grad(loss))(g)
            # traced on both sides of 0 too: a traced value is not range-checked
            np.testing.assert_allclose(float(got), _finite_difference(jax.jit(loss), g), rtol=1e-6)


@pytest.mark.backends("jax")
@pytest.mark.parametrize("kind", ["binary", "categorical"])
def test_gradient_at_a_traced_zero_gamma_is_the_cross_entropys(backend, kind):
    """A Python 0 has no focal factor; a traced 0 has ``base ** 0``, whose derivative at a
    base of 0 (a probability of exactly 0 or 1) would be ``0 * 0 ** -1 = nan``."""
    jax = need("jax")
    keras = _keras()
    if kind == "binary":
        y, x = _t(_BITS), jax.numpy.asarray(_SATURATED)
        fn = keras.binary_focal_crossentropy
    else:
        y, x = _t(_ONE_HOT), jax.numpy.asarray(np.eye(13, dtype=np.float32)[[0, 1, 5, 7, 12, 2]])
        fn = keras.categorical_focal_crossentropy

    def loss(p, g):
        return fn(y, p, gamma=g).sum()

    got = jax.jit(jax.grad(loss))(x, 0.0)
    want = jax.grad(loss)(x, 0.0)
    assert np.isfinite(np.asarray(want)).all()
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


@pytest.mark.backends("jax")
def test_vmap_over_the_values(backend):
    jax = need("jax")
    x = jax.numpy.asarray(_X)
    ps = np.array([0.3, 0.6, 0.9, 1.0], np.float32)
    got = jax.vmap(lambda p: xloss.top_p_filter(x, p))(jax.numpy.asarray(ps))
    for i, p in enumerate(ps):
        np.testing.assert_array_equal(np.asarray(got[i]), np.asarray(xloss.top_p_filter(x, p)))
    smoothing = np.array([0.0, 0.1, 0.3], np.float32)
    probs = jax.numpy.asarray(_PROBS)
    loss = jax.vmap(
        lambda s: xloss.categorical_crossentropy(_t(_ONE_HOT), probs, label_smoothing=s)
    )
    got = loss(jax.numpy.asarray(smoothing))
    for i, s in enumerate(smoothing):
        want = xloss.categorical_crossentropy(_t(_ONE_HOT), probs, label_smoothing=float(s))
        np.testing.assert_allclose(np.asarray(got[i]), np.asarray(want), rtol=1e-6)


@pytest.mark.backends("jax")
@pytest.mark.parametrize("alpha", ["numpy", "jax"])
def test_a_0d_array_alpha_is_one_number(backend, alpha):
    """A 0-d array ``alpha`` was taken for a per-class sequence and iterated (a TypeError)."""
    jax = need("jax")
    x = jax.numpy.asarray(_PROBS)
    array = np.asarray(0.25) if alpha == "numpy" else jax.numpy.asarray(0.25)
    keras = _keras()
    got = keras.categorical_focal_crossentropy(_t(_ONE_HOT), x, alpha=array)
    want = keras.categorical_focal_crossentropy(_t(_ONE_HOT), x, alpha=0.25)
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


# --- what stays refused, and says what to do --------------------------------------------------

_STATIC = r"static_argnums"
# name: (function of (logits, traced value), the traced value, the message's pattern)
REFUSED = {
    "top_k_filter-k": (lambda x, v: xloss.top_k_filter(x, v), 3, r"`k` must be an int known"),
    "top_k-k": (lambda x, v: xloss.top_k(x, v), 3, r"`k` must be an int known"),
    "top_k_softmax-k": (lambda x, v: xloss.top_k_softmax(x, v), 3, r"`k` must be an int known"),
    "top_p_filter-min_keep": (
        lambda x, v: xloss.top_p_filter(x, 0.5, min_keep=v),
        2,
        r"`min_keep` must be an int known",
    ),
    "sample-num_samples": (
        lambda x, v: xloss.sample(x, 0, num_samples=v),
        2,
        r"`num_samples` must be an int known",
    ),
    "sample-top_k": (lambda x, v: xloss.sample(x, 0, top_k=v), 2, r"`top_k` must be an int known"),
    "softmax-axis": (lambda x, v: xloss.softmax(x, axis=v), 0, r"`axis` must be an int known"),
    "sparse-ignore_class": (
        lambda x, v: xloss.sparse_categorical_crossentropy([0, 1, 2, 3, 4, 5], x, ignore_class=v),
        -1,
        r"`ignore_class` must be an int or None known",
    ),
    "categorical-from_logits": (
        lambda x, v: xloss.categorical_crossentropy(_t(_ONE_HOT), x, from_logits=v),
        True,
        r"`from_logits` must be True or False.*static_argnames",
    ),
    "compat.torch-label_smoothing": (
        lambda x, v: importlib.import_module("xloss.compat.torch").cross_entropy(
            x, _t(np.arange(6) % 13), label_smoothing=v
        ),
        0.1,
        r"`label_smoothing` must be a float in \[0, 1\] .* A traced JAX value cannot be taken "
        r"here: .*static_argnums",
    ),
    "label_smoothing-array": (
        lambda x, v: xloss.categorical_crossentropy(_t(_ONE_HOT), x, label_smoothing=v),
        np.array([0.1, 0.2], np.float32),
        r"`label_smoothing` must be a number in \[0, 1\]: one number; received a traced JAX "
        r"array .* shape \(2,\)",
    ),
    "temperature-bool": (
        lambda x, v: xloss.apply_temperature(x, v),
        True,
        r"`temperature` must be a number; received a traced JAX value .* dtype bool",
    ),
}


@pytest.mark.backends("jax")
@pytest.mark.parametrize("case", REFUSED)
def test_traced_values_where_a_python_value_is_needed_say_what_to_do(backend, case):
    jax = need("jax")
    fn, value, pattern = REFUSED[case]
    x = jax.numpy.asarray(_PROBS)
    with pytest.raises(TypeError, match=pattern) as error:
        jax.jit(fn)(x, value)
    if "known" in pattern:
        assert _STATIC in str(error.value)


@pytest.mark.backends("jax")
def test_a_traced_value_with_another_librarys_arrays_is_refused(backend):
    jax = need("jax")
    pattern = r"`p` is a traced JAX value but `logits` is not a JAX array \(numpy\)"
    with pytest.raises(TypeError, match=pattern):
        jax.jit(lambda p: xloss.top_p_filter(_X, p))(0.5)
    pattern = r"`label_smoothing` is a traced JAX value but `y_pred` is not a JAX array"
    with pytest.raises(TypeError, match=pattern):
        jax.jit(lambda s: xloss.categorical_crossentropy(_ONE_HOT, _PROBS, label_smoothing=s))(0.1)


def test_an_array_for_a_number_says_to_pass_one_number():
    with pytest.raises(TypeError, match=r"Pass one number, not an array of shape \(2,\)"):
        xloss.apply_temperature(_X, np.array([0.5, 2.0]))


@pytest.mark.backends("tensorflow")
def test_a_tensorflow_tensor_inside_tf_function_says_to_pass_a_number(backend):
    """(With AutoGraph on, TensorFlow rewrites xloss's ``float(p)`` into a cast, and runs.)"""
    tf = need("tensorflow")
    pattern = r"`p` must be a number in \[0, 1\]; .* inside `tf.function` has no value"
    filtered = tf.function(lambda p: xloss.top_p_filter(tf.constant(_X), p), autograph=False)
    with pytest.raises(TypeError, match=pattern):
        filtered(tf.constant(0.5))
