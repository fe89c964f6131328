"""sample: Gumbel-max draws with temperature, top-k and top-p, on every backend.

Shapes and types, determinism per seed, each backend's own generator, greedy decoding, draws
inside the filtered support, a chi-square test of the frequencies against softmax(logits / T),
and jax.jit / tf.function / torch.compile. The tests taking the ``levels`` fixture run twice:
with the one-level draw the small vocabularies here take, and forced into two levels.
"""

from __future__ import annotations

import contextlib
import itertools

import numpy as np
import pytest
import reference as ref
from backends import DEVICE, FLOAT_DTYPES, need

import xloss
from xloss import _sampling

RNG = np.random.default_rng(29)
V = 10
LOGITS = RNG.normal(scale=2.0, size=(4, V)).astype(np.float32)
LOGITS_3D = RNG.normal(scale=2.0, size=(2, V, 3)).astype(np.float32)  # vocabulary on axis 1
INDEX_DTYPE = {  # each library's default index dtype (JAX without x64)
    "numpy": "int64",
    "array_api_strict": "int64",
    "jax": "int32",
    "torch": "int64",
    "tensorflow": "int64",
}


def _generator(backend, seed: int, legacy: bool = False):
    """The backend's own generator, seeded (what an int seed means on that backend)."""
    if backend.name == "jax":
        jax = need("jax")
        return jax.random.PRNGKey(seed) if legacy else jax.random.key(seed)
    if backend.name == "torch":
        return need("torch").Generator(DEVICE or "cpu").manual_seed(seed)
    if backend.name == "tensorflow":  # the stateless ops' scrambled key and counter
        tf = need("tensorflow")
        key, counter = tf.raw_ops.StatelessRandomGetKeyCounter(seed=tf.constant([seed, 0]))
        key, counter = tf.bitcast(key, tf.int64)[0], tf.bitcast(counter, tf.int64)
        return tf.random.Generator.from_key_counter(key=key, counter=counter, alg="philox")
    return np.random.default_rng(seed)  # NumPy, and any Array-API library (drawn with NumPy)


def _draw(backend, x, rng, **kwargs) -> np.ndarray:
    return backend.to_numpy(xloss.sample(backend.asarray(x), rng, **kwargs))


@pytest.fixture(params=["one-level", "two-level"])
def levels(request, monkeypatch):
    """Draw in one level (what vocabularies of 10 take), or in two: 2 blocks of 5 (or of 4)."""
    if request.param == "two-level":
        monkeypatch.setattr(_sampling, "TWO_LEVELS_FROM", (1, 1))
    return request.param


def _index_dtype(backend):
    if backend.name in INDEX_DTYPE:
        return backend.dtype_of(INDEX_DTYPE[backend.name])
    # any other Array-API library (XLOSS_EXTRA_BACKENDS): its default indexing dtype
    return backend.module.__array_namespace_info__().default_dtypes()["indexing"]


# --- shape, type, dtype -----------------------------------------------------------------------


@pytest.mark.parametrize("num_samples", [1, 7])
@pytest.mark.parametrize(
    ("logits", "axis", "batch"),
    [(LOGITS[0], -1, ()), (LOGITS, -1, (4,)), (LOGITS_3D, 1, (2, 3))],
    ids=["1d", "2d", "3d-axis1"],
)
def test_shape_type_and_dtype(backend, levels, logits, axis, batch, num_samples):
    out = xloss.sample(backend.asarray(logits), 0, num_samples=num_samples, axis=axis)
    assert isinstance(out, backend.array_types)
    assert out.dtype == _index_dtype(backend)
    assert tuple(out.shape) == (*batch, num_samples)
    values = backend.to_numpy(out)
    assert values.min() >= 0 and values.max() < V


def test_every_float_dtype(backend, levels):
    """Half precision is computed (and its uniforms drawn) in float32: the same draws."""
    upcast = _draw(backend, LOGITS, 3, num_samples=20)
    for dtype in FLOAT_DTYPES[backend.name]:
        with backend.x64() if dtype == "float64" else contextlib.nullcontext():
            out = xloss.sample(backend.asarray(LOGITS, dtype), 3, num_samples=20)
            values = backend.to_numpy(out)
            assert values.shape == (4, 20) and values.min() >= 0 and values.max() < V
            if dtype in ("float16", "bfloat16"):
                held = backend.to_numpy(backend.asarray(LOGITS, dtype)).astype(np.float32)
                np.testing.assert_array_equal(values, _draw(backend, held, 3, num_samples=20))
            if dtype == "float32":
                np.testing.assert_array_equal(values, upcast)


# --- randomness -------------------------------------------------------------------------------


def test_same_seed_same_draw_different_seeds_differ(backend, levels):
    first = _draw(backend, LOGITS, 7, num_samples=50, temperature=2.0)
    np.testing.assert_array_equal(_draw(backend, LOGITS, 7, num_samples=50, temperature=2.0), first)
    assert (_draw(backend, LOGITS, 8, num_samples=50, temperature=2.0) != first).any()


def test_consecutive_seeds_draw_unrelated_streams(backend, levels):
    """Seeds ``s`` and ``s + 1`` (a seed per step is common) draw unrelated tokens. TensorFlow's
    seeds went into Philox's counter (``tf.random.Generator.from_seed``'s state): seed 1's
    uniforms were seed 0's four places on, so rows of four logits were drawn as the previous
    seed's next row, every time."""
    flat = np.zeros((64, 4), np.float32)
    draws = [_draw(backend, flat, seed)[:, 0] for seed in range(4)]
    for before, after in itertools.pairwise(draws):
        for shift in range(3):  # a stream shifted by 0, 1 or 2 rows
            same = np.mean(after[: 64 - shift] == before[shift:])
            assert same < 0.6, f"{same:.0%} of the rows repeat the previous seed's"


def test_native_generator_is_what_a_seed_means(backend, levels):
    """Each backend's own generator is accepted; an int seed draws what a generator freshly
    made from that seed draws; stateful generators advance, JAX keys are used as given."""
    kwargs = {"num_samples": 50, "temperature": 2.0}
    seeded = _draw(backend, LOGITS, 5, **kwargs)
    variants = [False, True] if backend.name == "jax" else [False]
    for legacy in variants:
        rng = _generator(backend, 5, legacy)
        first = _draw(backend, LOGITS, rng, **kwargs)
        np.testing.assert_array_equal(first, seeded)
        second = _draw(backend, LOGITS, rng, **kwargs)
        if backend.name == "jax":
            np.testing.assert_array_equal(second, first)  # a key is not state
        else:
            assert (second != first).any()


def test_another_frameworks_generator_is_rejected(backend):
    foreign = need("torch").Generator() if backend.name != "torch" else np.random.default_rng(0)
    with pytest.raises(TypeError, match=r"`rng` must be an int seed or a"):
        xloss.sample(backend.asarray(LOGITS), foreign)


# --- greedy -----------------------------------------------------------------------------------


TIES = np.array(
    [[1.0, 3.0, 3.0, 2.0], [5.0, 5.0, 5.0, 5.0], [0.0, -np.inf, 2.0, 2.0], [-1.0, -3.0, 4.0, 9.0]],
    np.float32,
)


def test_temperature_zero_is_greedy_ties_lower_index_first(backend):
    out = _draw(backend, TIES, 0, temperature=0, num_samples=3, top_k=2, top_p=0.5)
    np.testing.assert_array_equal(out, np.repeat([[1], [0], [2], [3]], 3, axis=1))
    out = _draw(backend, LOGITS_3D, 0, temperature=0, num_samples=2, axis=1)
    expected = np.argmax(LOGITS_3D, axis=1)[..., None].repeat(2, axis=-1)
    np.testing.assert_array_equal(out, expected)


@pytest.mark.backends("numpy", "array_api_strict", "torch", "tensorflow")  # JAX keys: no state
def test_temperature_zero_consumes_no_randomness(backend):
    rng = _generator(backend, 11)
    _draw(backend, LOGITS, rng, temperature=0, num_samples=4)
    after_greedy = _draw(backend, LOGITS, rng, num_samples=30)
    np.testing.assert_array_equal(after_greedy, _draw(backend, LOGITS, 11, num_samples=30))


# --- filtering --------------------------------------------------------------------------------


def _support(backend, x, temperature, top_k, top_p, axis=-1):
    """Where xloss's own filters (temperature, top-k, top-p) keep a finite logit."""
    z = xloss.apply_temperature(backend.asarray(x), temperature)
    if top_k is not None:
        z = xloss.top_k_filter(z, top_k, axis=axis)
    if top_p is not None:
        z = xloss.top_p_filter(z, top_p, axis=axis)
    return np.isfinite(backend.to_numpy(z))


@pytest.mark.parametrize(("top_k", "top_p"), [(3, None), (None, 0.5), (6, 0.8), (1, None)], ids=str)
def test_draws_lie_in_the_filtered_support(backend, levels, top_k, top_p):
    kwargs = {"temperature": 1.5, "top_k": top_k, "top_p": top_p}
    out = _draw(backend, LOGITS, 1, num_samples=300, **kwargs)
    support = _support(backend, LOGITS, 1.5, top_k, top_p)
    assert np.take_along_axis(support, out, axis=-1).all()
    # In 3-D, on axis 1: the support for batch (b, j) is support3[b, :, j].
    out3 = _draw(backend, LOGITS_3D, 2, num_samples=300, axis=1, **kwargs)
    support3 = np.moveaxis(_support(backend, LOGITS_3D, 1.5, top_k, top_p, axis=1), 1, -1)
    assert np.take_along_axis(support3, out3, axis=-1).all()


def test_a_plus_inf_logit_is_always_drawn(backend, levels):
    """A ``+inf`` logit takes all the probability, among ``-inf`` (filtered) logits or finite
    ones: every draw is it, in one level and in two (whose block totals come from a softmax
    that is ``nan`` for such a row on TensorFlow's kernel)."""
    x = np.random.default_rng(4).normal(size=(3, 10)).astype(np.float32)
    x[0] = -np.inf
    x[0, 7] = np.inf
    x[1, 2] = np.inf
    out = _draw(backend, x, 2, num_samples=50)  # (3, 50)
    assert (out[0] == 7).all() and (out[1] == 2).all()
    assert np.isfinite(x[2, out[2]]).all()


# --- the distribution -------------------------------------------------------------------------

PROBS = np.array([0.30, 0.20, 0.15, 0.12, 0.10, 0.07, 0.04, 0.02])
# Two distributions along axis 0 (shape (8, 2)): every test also checks the axis handling.
CHI_LOGITS = np.log(np.stack([PROBS, PROBS[::-1]], axis=1)).astype(np.float32)
N_DRAWS = 20_000
ALPHA = 1e-3
CHI_CASES = {
    "plain": (1.0, None, None),
    "temperature-0.6": (0.6, None, None),
    "temperature-2": (2.0, None, None),
    "top_k-3": (1.0, 3, None),
    "top_p-0.7-temperature-1.3": (1.3, None, 0.7),
    "top_k-5-top_p-0.6-temperature-0.8": (0.8, 5, 0.6),
}


def _reference_probs(logits: np.ndarray, temperature, top_k, top_p) -> np.ndarray:
    """softmax(logits / T) on the HuggingFace top-k/top-p support, in float64 (rows last)."""
    z = ref.f64(logits) / temperature
    if top_k is not None:
        z = ref.hf_top_k(z, top_k)
    if top_p is not None:
        z = ref.hf_top_p(z, top_p)
    return ref.softmax(z)


@pytest.mark.parametrize(("temperature", "top_k", "top_p"), CHI_CASES.values(), ids=CHI_CASES)
def test_frequencies_match_softmax_chi_square(backend, levels, temperature, top_k, top_p):
    """Sampled frequencies against softmax(logits / T) restricted to the filtered support.

    Pearson's chi-square goodness-of-fit test (scipy.stats.chisquare) on 20000 draws per
    distribution, at significance alpha = 1e-3. The seed is fixed, so the test is deterministic:
    it passes or fails the same way on every run. With a fresh seed each run, a correct sampler
    would fail it with probability alpha = 0.1% per distribution (the false-failure rate);
    a biased one fails with a probability that grows with the bias and the number of draws.
    """
    stats = need("scipy.stats")
    expected = _reference_probs(CHI_LOGITS.T, temperature, top_k, top_p)  # (2, 8)
    support = expected > 0
    xloss_support = _support(backend, CHI_LOGITS, temperature, top_k, top_p, axis=0).T
    np.testing.assert_array_equal(xloss_support, support)  # the same support as HuggingFace's
    kwargs = {"temperature": temperature, "top_k": top_k, "top_p": top_p}
    out = _draw(backend, CHI_LOGITS, 2024, num_samples=N_DRAWS, axis=0, **kwargs)
    assert out.shape == (2, N_DRAWS)
    for row in range(2):
        counts = np.bincount(out[row], minlength=len(PROBS))
        assert counts[~support[row]].sum() == 0, f"row {row}: draws outside the support"
        p = expected[row][support[row]]
        result = stats.chisquare(counts[support[row]], N_DRAWS * p / p.sum())
        assert result.pvalue > ALPHA, f"row {row}: counts {counts}, p-value {result.pvalue:.2g}"


# A vocabulary that takes two levels by default: 2048 = 32 blocks of 64. Eight heavy tokens in
# six blocks (two share one, one is the last entry), the rest light; the second row reversed.
BIG_V = 2048
HEAVY = np.array([3, 130, 131, 700, 1024, 1500, 2040, 2047])
BIG_LOGITS = np.full((2, BIG_V), -4.0, np.float32)
BIG_LOGITS[0, HEAVY] = np.linspace(2.0, -1.5, len(HEAVY))
BIG_LOGITS[1] = BIG_LOGITS[0, ::-1]
BIG_CASES = {"plain": (1.0, None), "temperature-0.5": (0.5, None), "top_k-8": (1.0, 8)}


@pytest.mark.parametrize(("temperature", "top_k"), BIG_CASES.values(), ids=BIG_CASES)
def test_two_levels_frequencies_chi_square(backend, temperature, top_k):
    """The two-level draw a large vocabulary takes by default, against softmax(logits / T):
    chi-square (alpha = 1e-3) on the eight heavy tokens and the light ones pooled; with top-k,
    30 of the 32 blocks are all -inf and never drawn."""
    stats = need("scipy.stats")
    assert _sampling.gumbel_block(BIG_V, 2 * N_DRAWS) == 64
    expected = _reference_probs(BIG_LOGITS, temperature, top_k, None)  # (2, V)
    out = _draw(backend, BIG_LOGITS, 99, num_samples=N_DRAWS, temperature=temperature, top_k=top_k)
    assert out.shape == (2, N_DRAWS)
    for row, heavy in enumerate((HEAVY, BIG_V - 1 - HEAVY)):
        counts = np.bincount(out[row], minlength=BIG_V)
        assert counts[expected[row] == 0].sum() == 0, f"row {row}: draws outside the support"
        light = np.ones(BIG_V, bool)
        light[heavy] = False
        observed = np.append(counts[heavy], counts[light].sum())
        p = np.append(expected[row][heavy], expected[row][light].sum())
        keep = p > 0
        result = stats.chisquare(observed[keep], N_DRAWS * p[keep] / p[keep].sum())
        assert result.pvalue > ALPHA, f"row {row}: {observed} against {N_DRAWS * p}"


@pytest.mark.parametrize(
    ("vocabulary", "draws", "block"),
    [
        (8192, 2048, 128),  # 64 blocks of 128
        (32000, 4, 200),  # 160 of 200
        (50257, 2, 1733),  # 29 x 1733
        (1031, 1000, None),  # a prime: one level
        (1000, 1000, None),  # below 1024 entries
        (32000, 2, None),  # 64000 uniforms in one level: too few to gain
    ],
)
def test_gumbel_block_sizes(vocabulary, draws, block):
    assert _sampling.gumbel_block(vocabulary, draws) == block


# --- validation -------------------------------------------------------------------------------


BAD = {
    "temperature-negative": ({"temperature": -1.0}, ValueError, r"`temperature` must be finite"),
    "temperature-inf": ({"temperature": float("inf")}, ValueError, r"`temperature` must be"),
    "top_k-zero": ({"top_k": 0}, ValueError, r"`top_k`=0 is out of range: .* \[1, 10\]"),
    "top_k-too-large": ({"top_k": 11}, ValueError, r"`top_k`=11 is out of range"),
    "top_k-float": ({"top_k": 2.0}, TypeError, r"`top_k` must be an int; received 2.0"),
    "top_p-zero": ({"top_p": 0.0}, ValueError, r"`top_p` must be in \(0, 1\]; received 0.0"),
    "top_p-above-one": ({"top_p": 1.5}, ValueError, r"`top_p` must be in \(0, 1\]"),
    "top_p-text": ({"top_p": "high"}, TypeError, r"`top_p` must be a number in \(0, 1\]"),
    "top_p-numeric-text": ({"top_p": "0.5"}, TypeError, r"`top_p` must be a number in \(0, 1\]"),
    "top_p-bool": ({"top_p": True}, TypeError, r"`top_p` must be a number in \(0, 1\]"),
    "num_samples-zero": ({"num_samples": 0}, ValueError, r"`num_samples`=0 is out of range"),
    "num_samples-float": ({"num_samples": 2.5}, TypeError, r"`num_samples` must be an int"),
    "seed-negative": ({"rng": -1}, ValueError, r"`rng`=-1 is out of range: .* \[0, 2\*\*32 - 1\]"),
    "seed-too-large": ({"rng": 2**32}, ValueError, r"`rng`=4294967296 is out of range"),
    "rng-float": ({"rng": 1.5}, TypeError, r"`rng` must be an int seed or a"),
    "rng-bool": ({"rng": True}, TypeError, r"`rng` must be an int seed or a"),
    "axis": ({"axis": 2}, ValueError, r"`axis`=2 is out of range for `logits`"),
}


@pytest.mark.parametrize(("kwargs", "error", "message"), BAD.values(), ids=BAD)
def test_bad_arguments_are_named(backend, kwargs, error, message):
    kwargs = dict(kwargs)
    rng = kwargs.pop("rng", 0)
    with pytest.raises(error, match=message):
        xloss.sample(backend.asarray(LOGITS), rng, **kwargs)


def test_integer_logits_are_rejected(backend):
    with pytest.raises(TypeError, match=r"`logits` must be a real floating-point array"):
        xloss.sample(backend.asarray(np.arange(6).reshape(2, 3)), 0)


# --- compilers --------------------------------------------------------------------------------


@pytest.mark.backends("jax")
def test_jax_jit_with_a_key_argument(backend, levels):
    jax = need("jax")

    def draw(x, key):
        return xloss.sample(x, key, temperature=0.7, top_k=6, top_p=0.9, num_samples=8)

    compiled = jax.jit(draw)
    x = backend.asarray(LOGITS)
    for key in (jax.random.key(3), jax.random.PRNGKey(3)):
        np.testing.assert_array_equal(
            backend.to_numpy(compiled(x, key)), backend.to_numpy(draw(x, key))
        )
    a, b = jax.random.split(jax.random.key(0))
    assert (backend.to_numpy(compiled(x, a)) != backend.to_numpy(compiled(x, b))).any()
    seeded = jax.jit(lambda x: xloss.sample(x, 3, num_samples=8))
    np.testing.assert_array_equal(
        backend.to_numpy(seeded(x)), backend.to_numpy(xloss.sample(x, 3, num_samples=8))
    )


@pytest.mark.backends("tensorflow")
def test_tf_function_with_unknown_shapes(backend):
    """An int seed (stateless inside the graph) and a tf.random.Generator, every dim unknown."""
    tf = need("tensorflow")
    spec = [tf.TensorSpec([None, None], tf.float32)]
    kwargs = {"temperature": 0.7, "top_k": 6, "top_p": 0.9, "num_samples": 8}
    seeded = tf.function(lambda x: xloss.sample(x, 3, **kwargs), input_signature=spec)
    traced_generator, eager_generator = _generator(backend, 4), _generator(backend, 4)
    stateful = tf.function(
        lambda x: xloss.sample(x, traced_generator, **kwargs), input_signature=spec
    )
    for rows in (LOGITS, LOGITS[:2]):
        x = backend.asarray(rows)
        np.testing.assert_array_equal(
            backend.to_numpy(seeded(x)), backend.to_numpy(xloss.sample(x, 3, **kwargs))
        )
        np.testing.assert_array_equal(
            backend.to_numpy(stateful(x)),
            backend.to_numpy(xloss.sample(x, eager_generator, **kwargs)),
        )


@pytest.mark.backends("torch")
def test_torch_compile_fullgraph_greedy(backend):
    torch = need("torch")
    torch._dynamo.reset()
    greedy = torch.compile(
        lambda x: xloss.sample(x, 0, temperature=0, top_k=3, num_samples=3), fullgraph=True
    )
    x = backend.asarray(TIES)
    np.testing.assert_array_equal(
        backend.to_numpy(greedy(x)), np.repeat([[1], [0], [2], [3]], 3, axis=1)
    )


@pytest.mark.backends("torch")
# torch 2.11 (seen on CUDA) warns at the graph break this test is about
@pytest.mark.filterwarnings("ignore:Dynamo does not know how to trace the builtin:UserWarning")
def test_torch_compile_with_a_generator_matches_eager(backend, levels):
    """Without fullgraph, torch.compile breaks the graph at the draw: the eager result."""
    torch = need("torch")
    torch._dynamo.reset()

    def draw(x, rng):
        return xloss.sample(x, rng, temperature=0.7, top_k=6, top_p=0.9, num_samples=8)

    compiled = torch.compile(draw)
    x = backend.asarray(LOGITS)
    for rng, again in ((_generator(backend, 4), _generator(backend, 4)), (4, 4)):
        np.testing.assert_array_equal(
            backend.to_numpy(compiled(x, rng)), backend.to_numpy(draw(x, again))
        )


@pytest.mark.backends("torch")
def test_torch_compile_fullgraph_cannot_trace_a_generator(backend):
    """The documented limitation. If this starts failing, torch can trace a torch.Generator:
    test that instead and update the docstring of xloss.sample."""
    torch = need("torch")
    torch._dynamo.reset()
    compiled = torch.compile(lambda x, rng: xloss.sample(x, rng), fullgraph=True)
    with pytest.raises(torch._dynamo.exc.Unsupported):
        compiled(backend.asarray(LOGITS), _generator(backend, 0))


# --- the far tail -----------------------------------------------------------------------------


def test_large_logits_draw_as_their_shifted_values(backend, levels):
    """At T = 1 too the logits are shifted by their maximum before the noise is added: near
    ``1e7`` float32 logits are spaced by 1, and ``z + G`` kept about one digit of the noise
    (chi-square p ~ 1e-60 over a million draws). Integers below 2**24 are exact either way, so
    the shifted values are the same and so are the draws."""
    small = np.random.default_rng(3).integers(-6, 1, size=(8, 16)).astype(np.float32)
    for temperature in (1.0, 0.5):
        kwargs = {"num_samples": 40, "temperature": temperature}
        np.testing.assert_array_equal(
            _draw(backend, small + 1e7, 11, **kwargs), _draw(backend, small, 11, **kwargs)
        )


def test_uniforms_keep_their_digits_near_zero(backend):
    """The Gumbel noise's upper tail comes from the small uniforms (`_sampling._neg_gumbel`), so
    they must hold more than float32's 24 random bits (23 in JAX): with those, ``G`` stopped at
    16.6 (its last values coarse), and 50,256 tokens 17 below the largest, 0.2% of the mass,
    were drawn at a fifth of that."""
    x = backend.asarray(np.zeros((1, 4), np.float32))
    adapter = xloss._dispatch.backend_of(x).adapter
    u = backend.to_numpy(adapter.random_uniform(0, (1 << 20,), x.dtype, x)).astype(np.float64)
    assert u.min() >= 0.0 and u.max() <= 1.0
    small = u[u < 2.0**-12]  # about 256
    assert len(small) > 100
    assert np.any(small * 2.0**24 % 1.0 != 0.0), "the small uniforms are multiples of 2**-24"
    xp = xloss._dispatch.resolve(x=x).xp
    noise = -backend.to_numpy(_sampling._neg_gumbel(xp, backend.asarray(np.array([1e-9, 0.5]))))
    np.testing.assert_allclose(noise, -np.log(-np.log1p(-np.array([1e-9, 0.5]))), rtol=1e-6)
