"""``sample``: draw token indices from logits, with temperature, top-k and top-p, on every backend.

The method is the Gumbel-max trick; see `sample` for why. Random numbers come from the
adapter hooks ``check_rng`` and ``random_uniform`` (see `xloss.adapters`), so each backend
draws with its own generator and the core stays pure Array API.
"""

from __future__ import annotations

import math
import numbers
import operator
from typing import Any

from xloss import _fast
from xloss._activations import shift_xp
from xloss._dispatch import device_of
from xloss._filters import (
    check_temperature,
    shifted_by_temperature,
    top_k_filter_xp,
    top_p_filter_xp,
)
from xloss._topk import check_k
from xloss._topk import top_k as _top_k
from xloss._validation import (
    as_number,
    check_classes,
    check_traced,
    float_input,
    index_dtype,
    normalize_axis,
    traced,
)

#: Integer seeds are limited to the range every backend maps to distinct streams in every
#: configuration (JAX without x64 keeps only the low 32 bits of a seed).
MAX_SEED = 2**32 - 1


def _check_top_p(top_p: Any) -> Any:
    """``top_p`` as a float in (0, 1], or a traced JAX scalar as it is (unchecked)."""
    value = as_number(top_p, "top_p", what="a number in (0, 1]", traceable=True)
    if traced(value):
        return value
    if not 0.0 < value <= 1.0:
        raise ValueError(
            f"`top_p` must be in (0, 1]; received {top_p!r}. It is the probability mass kept "
            f"(0.9 is common; 1 keeps every token); use `temperature=0` for greedy decoding."
        )
    return value


def _check_rng(rng: Any, adapter: Any, like: Any, backend: str) -> Any:
    """An int seed as a Python ``int`` (range-checked), or the backend's generator, checked."""
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        seed = operator.index(rng)
        if not 0 <= seed <= MAX_SEED:
            raise ValueError(
                f"`rng`={seed} is out of range: an int seed must be in [0, 2**32 - 1] (the range "
                f"every backend maps to distinct random streams). For more entropy pass the "
                f"backend's own generator, seeded as you like."
            )
        return seed
    check = adapter.check_rng
    if check is None or adapter.random_uniform is None:
        raise TypeError(f"the {backend} backend cannot draw random numbers (no `random_uniform`).")
    check(rng, like)
    return rng


def _repeat_last(xp: Any, x: Any, n: int, device: Any) -> Any:
    """``x`` of shape ``(..., 1)`` repeated ``n`` times along the last axis (a fresh array)."""
    return x + xp.zeros_like(xp.arange(n, dtype=x.dtype, device=device))


TWO_LEVELS_FROM = (1024, 1 << 16)
"""Draws are in two levels (`gumbel_block`) from vocabularies of at least the first number of
entries, when one level would take at least the second number of uniforms. Below, the few
passes of the two-level draw cost more than the uniforms they save (measured on the CPU: one
row of 4096 logits, 1.9-2.2x the one-level draw's time with NumPy, PyTorch and TensorFlow;
2 x 32000, 0.4-1.3x; 8 x 32000, 0.1-0.7x)."""

_blocks: dict[int, int | None] = {}


def gumbel_block(vocabulary: int, draws: int) -> int | None:
    """The block size of the two-level draw of ``draws`` samples (rows times samples per row)
    from a vocabulary of this size, or ``None`` for the one-level draw: small sizes (see
    `TWO_LEVELS_FROM`), and vocabularies with no divisor but 1 and themselves.

    The block is the smallest divisor of the vocabulary at least its square root: ``V / B``
    blocks of ``B`` entries, ``V / B + B`` uniforms per draw instead of ``V`` (8192: 64 blocks
    of 128, 192 uniforms; 32000: 160 of 200; 50257 = 29 x 1733: 29 of 1733).
    """
    smallest, uniforms = TWO_LEVELS_FROM
    if vocabulary < smallest or vocabulary * draws < uniforms:
        return None
    block = _blocks.get(vocabulary, 0)
    if block == 0:
        size = math.isqrt(vocabulary - 1) + 1  # the ceiling of the square root
        while vocabulary % size:
            size += 1
        block = _blocks[vocabulary] = size if size < vocabulary else None
    return block


def _neg_gumbel(xp: Any, u: Any) -> Any:
    """Gumbel noise negated, ``-G = log(-log(1 - u))``, the uniforms kept inside ``(0, 1)``:
    finite. The draws subtract it (``x - (-G)``, bit for bit ``x + G``: one negation fewer).

    ``1 - u`` is uniform as ``u`` is; written so, the noise's upper tail (``G`` large: the only
    way a token far below the largest logit is drawn) comes from the small uniforms, which
    hold all their digits (``-log1p(-u)``, of uniforms drawn with 53 random bits:
    `xloss.adapters`), rather than from those just below 1, spaced by the dtype's ``eps``:
    ``-log(-log(u))`` of float32 uniforms stops at 16.6, and its last few values are coarse,
    so tokens 15 and more below the largest were drawn too rarely, and from 18.7 never."""
    info = xp.finfo(u.dtype)
    u = xp.clip(u, float(info.smallest_normal), 1.0 - float(info.eps))
    return xp.log(-xp.log1p(-u))


def gumbel_argmax_xp(
    xp: Any, u: Any, x: Any, *, block: int | None = None, shifted: bool = False
) -> Any:
    """``n`` Gumbel-max draws along ``x``'s last axis, shaped ``(n, *batch)``, with the uniforms
    ``u``: of shape ``(n, *x.shape)`` for one level (``block=None``): ``argmax(x + G)``; of
    shape ``(n, *batch, V / block + block)`` for two levels (see `sample`).

    The logits meet the noise shifted by a maximum (their row's in one level, unless
    ``shifted`` says they are already; their block's in two): ``x + G`` of large logits loses
    the noise's digits (near ``1e7`` float32 logits are spaced by 1: a million draws of four
    tokens were off by chi-square p ~ 1e-60)."""
    if block is None:
        if not shifted:
            x = x - shift_xp(xp, x, -1)
        return xp.argmax(x - _neg_gumbel(xp, u), axis=-1)
    *batch, vocabulary = x.shape
    blocks, rows, n = vocabulary // block, math.prod(batch), u.shape[0]
    x = xp.reshape(x, (rows, vocabulary))
    neg_noise = _neg_gumbel(xp, xp.reshape(u, (n, rows, blocks + block)))
    # The first level: a block, with the probability of its total, exp(x - max) summed (the
    # row's max: the blocks' own would cost NumPy a slow reduction of short rows). A block that
    # is all -inf (filtered), or whose every entry is below the max by more than exp's range
    # (87-104 in float32, 708-745 in float64: with or without subnormals), has a total of 0:
    # -inf, never chosen.
    shift = shift_xp(xp, x, -1)
    total = xp.sum(xp.exp(xp.reshape(x - shift, (rows, blocks, block))), axis=-1)
    some = total > 0
    mass = xp.log(xp.where(some, total, xp.ones_like(total)))
    mass = xp.where(some, mass, xp.full_like(mass, -math.inf))
    chosen = xp.argmax(mass - neg_noise[..., :blocks], axis=-1)  # (n, rows)
    # The second level: an entry of the chosen block, gathered for each draw.
    offsets = xp.arange(block, dtype=chosen.dtype, device=device_of(x))
    index = xp.expand_dims(chosen * block, axis=-1) + offsets  # (n, rows, block)
    index = xp.reshape(xp.permute_dims(index, (1, 0, 2)), (rows, n * block))
    picked = xp.reshape(xp.take_along_axis(x, index, axis=-1), (rows, n, block))
    picked = picked - shift_xp(xp, picked, -1)
    within = xp.argmax(xp.permute_dims(picked, (1, 0, 2)) - neg_noise[..., blocks:], axis=-1)
    return xp.reshape(chosen * block + within, (n, *batch))


def uniforms_shape(x: Any, n: int, block: int | None) -> tuple[Any, ...]:
    """The shape of the uniforms `gumbel_argmax_xp` takes for ``n`` draws from ``x``."""
    if block is None:
        return (n, *x.shape)
    return (n, *x.shape[:-1], x.shape[-1] // block + block)


def gumbel_sample_xp(
    xp: Any,
    rng: Any,
    x: Any,
    *,
    n: int,
    uniform: Any,
    block: int | None = None,
    shifted: bool = False,
) -> Any:
    """`gumbel_argmax_xp` with the uniforms of ``uniform`` (an adapter's ``random_uniform``):
    the draw and the argmax in one body, so that a compiling backend (JAX) fuses them."""
    # Samples lead, so the uniforms' shape ends with x's batch shape (what an adapter needs to
    # fill in dimensions unknown while tracing); in one level x broadcasts against them as is.
    u = uniform(rng, uniforms_shape(x, n, block), x.dtype, x)
    return gumbel_argmax_xp(xp, u, x, block=block, shifted=shifted)


def sample(
    logits: Any,
    rng: Any,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    num_samples: int = 1,
    axis: int = -1,
) -> Any:
    r"""Draw indices from ``softmax(logits / temperature)`` along ``axis``, after top-k and top-p.

    The order is HuggingFace's ``generate``: temperature, then top-k
    (`xloss.top_k_filter`), then top-p (`xloss.top_p_filter`); filtered logits become
    ``-inf`` and are never drawn. Each of the ``num_samples`` draws is independent (with
    replacement).

    **Method: Gumbel-max.** With ``G_i = -log(-log(U_i))`` for independent uniforms ``U_i``,

    ``\operatorname{argmax}_i (z_i + G_i) \sim \operatorname{softmax}(z)``

    exactly. Why this rather than inverse-CDF sampling (a cumulative sum of the probabilities
    and a search for one uniform in it):

    - it is exact, and needs only standard element-wise ops (``log``) and ``argmax``, so it
      vectorises identically on every backend (including under ``jit``, ``tf.function`` and
      ``torch.compile``), with no ``searchsorted`` or data-dependent control flow;
    - it works on the logits directly: no softmax, no normalisation, and ``-inf`` logits
      (filtered tokens) can never win, since ``-inf + G = -inf``;
    - there is no cumulative sum, whose float32 rounding (a running total near 1 that absorbs
      small probabilities) biases the tail of the distribution with inverse-CDF sampling.

    **Two levels for large draws.** One level takes one uniform per class per draw:
    ``num_samples * batch * V`` random numbers. From vocabularies of 1024 entries, when that is
    at least 65536 numbers, the vocabulary is cut into ``V / B`` blocks of ``B`` entries (``B``
    the smallest divisor of ``V`` at least ``sqrt(V)``: 8192 = 64 x 128) and each draw is two
    Gumbel-max draws: a block, with the probability of its total ``sum_{i in b} e^{z_i}``,
    then an entry of that block, with probability ``e^{z_i}`` over that total. Their product is
    ``softmax(z)_i``: the same distribution, from ``V / B + B`` uniforms per draw (192 instead
    of 8192) and a softmax's work on the logits for the blocks' totals (their maximum, ``exp``
    and sums). Vocabularies with no divisor but 1 and themselves (a prime), shapes unknown
    while tracing, and Dask arrays take one level. The draws for a seed depend on which way
    was taken.

    The logits meet the noise shifted by a maximum (their row's, or in two levels their
    block's; at ``T = 1`` too: ``z + G`` of logits near ``1e7``, spaced by 1 in float32, would
    lose the noise's digits). Uniforms are drawn with 53 random bits (64 for JAX's float32; 24
    on Apple's MPS, which has no float64) and rounded to the compute dtype (float32 for
    half-precision and float32 logits, float64 for float64), clipped to ``[tiny, 1 - eps]``,
    and ``G = -log(-log1p(-U))``: the noise's upper tail, the only way a token far below the
    largest is drawn, comes from the small uniforms, which keep all their digits. (Float32
    uniforms, 24 bits, as in ``jax.random.categorical``, stop ``G`` at 16.6 and draw tokens 15
    and more below the largest too rarely: 50,000 tokens 17 below it hold 0.2% of the mass,
    and were drawn at a fifth of that.) ``G`` then lies between about -2.8 (-3.6 in float64)
    and 36.7 (44.4 for JAX's float32), so a token more than about 39 (47) below the largest
    logit, whose exact probability is below ``exp(-39) = 1e-17``, is never drawn; in two
    levels the same holds between blocks' totals and within a block, and a block whose every
    logit is more than 87-104 below the row's largest (708-745 in float64: where ``exp``
    underflows to 0, with or without subnormals) is never drawn.

    **Randomness.** ``rng`` is an int seed in ``[0, 2**32 - 1]`` on every backend, or the
    backend's own generator; the same seed on the same backend gives the same draw (backends
    differ from each other). Stateful generators advance, so successive calls differ:

    - NumPy: ``np.random.Generator``; a seed means ``np.random.default_rng(seed)``.
    - JAX: a key, ``jax.random.key(s)`` or a legacy ``jax.random.PRNGKey(s)`` (works as a traced
      argument of ``jax.jit``); a seed means ``jax.random.key(seed)``. Keys are used as given,
      never split: pass a fresh key (``jax.random.split``) to each call.
    - PyTorch: ``torch.Generator`` on the logits' device type; a seed means
      ``torch.Generator(device).manual_seed(seed)``.
    - TensorFlow: ``tf.random.Generator`` (its ``uniform_full_int`` bits); a seed draws from the
      bits ``tf.random.stateless_uniform(shape, seed=(seed, 0), minval=None, maxval=None,
      dtype=tf.uint64)`` draws (no ``tf.Variable`` is created, so it also works inside
      ``tf.function``). Not ``tf.random.Generator.from_seed(seed)``, whose consecutive seeds
      draw overlapping streams, one shifted by a few numbers.
    - Any other Array-API library (array-api-strict, CuPy, ...): the standard has no random
      numbers, so the uniforms are drawn with NumPy (``np.random.default_rng(seed)`` or a given
      ``np.random.Generator``) on the host and converted with ``xp.asarray(..., device=...)``.

    **torch.compile**: torch cannot trace a ``torch.Generator`` (``fullgraph=True`` raises
    ``Unsupported``, whether the generator is an argument or made from a seed inside). Without
    ``fullgraph`` the compiled function breaks the graph at the draw and gives the eager result.
    ``temperature=0`` draws nothing and compiles with ``fullgraph=True``.

    Args:
        logits: real floating-point array, of any supported library.
        rng: an int seed in ``[0, 2**32 - 1]``, or the backend's generator (see above).
        temperature: finite and ``>= 0``; below 1 sharpens, above 1 flattens. ``0`` is greedy:
            the index of the largest logit (ties: lower index first; NaN ranks highest, as in
            `xloss.top_k`) repeated ``num_samples`` times; no randomness is consumed and
            ``top_k``/``top_p`` change nothing (the largest logit always survives them).
            Or a traced JAX scalar (a ``jax.jit`` argument): a traced value is not range-checked;
            both the draw and the greedy answer are computed, and a traced 0 gives the latter.
        top_k: keep the ``top_k`` largest logits (ties at the threshold survive), in
            ``[1, logits.shape[axis]]``; ``None``: no top-k filter.
        top_p: nucleus filter, in ``(0, 1]``; ``None`` or 1: no top-p filter.
            Or a traced JAX scalar (a ``jax.jit`` argument): a traced value is not range-checked.
        num_samples: draws per distribution, ``>= 1``.
        axis: the vocabulary axis.

    Returns:
        Integer indices into ``axis``, of shape ``batch + (num_samples,)`` where ``batch`` is
        ``logits.shape`` without ``axis``; the caller's array type and device, in the library's
        default index dtype. A single ``+inf`` logit takes all the probability and is drawn
        (in two levels, unless another block holds a logit so large that its total overflows
        too: above about 88 in float32). Rows with NaN, with more than one ``+inf``, or with
        every logit ``-inf`` have no distribution: their indices are unspecified.

    Raises:
        TypeError: non-floating ``logits``; ``rng`` is not an int or this backend's generator;
            ``top_k``/``num_samples`` not ints; ``top_p``/``temperature`` not numbers.
        ValueError: ``temperature < 0`` or not finite; ``top_k`` outside
            ``[1, logits.shape[axis]]``; ``top_p`` outside ``(0, 1]``; ``num_samples < 1``;
            an int seed outside ``[0, 2**32 - 1]``; a ``torch.Generator`` on another device
            type than the logits.

    Examples:
        >>> import numpy as np, xloss
        >>> logits = np.log(np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]]))
        >>> xloss.sample(logits, 0, num_samples=5).shape
        (2, 5)
        >>> xloss.sample(logits, 0, temperature=0, num_samples=3).tolist()
        [[0, 0, 0], [2, 2, 2]]
        >>> bool(np.all(xloss.sample(logits, np.random.default_rng(1), top_k=1) == [[0], [2]]))
        True
    """
    ns, x, _ = float_input(logits, name="logits")
    xp, adapter = ns.xp, ns.backend.adapter
    axis = normalize_axis(axis, x.ndim, array="logits")
    check_classes(x, axis, array="logits")
    t = check_temperature(temperature, allow_zero=True)
    k = None if top_k is None else check_k(top_k, x.shape[axis], name="top_k")
    p = None if top_p is None else _check_top_p(top_p)
    n = check_k(num_samples, None, name="num_samples")
    check_traced(ns.backend.name, "logits", temperature=t, top_p=p)
    rng = _check_rng(rng, adapter, x, ns.backend.name)

    last = x.ndim - 1
    if axis != last:
        x = xp.moveaxis(x, axis, last)
    indexing = index_dtype(xp)
    greedy = None
    if traced(t) or t == 0:
        best = _top_k(x, 1, axis=last).indices  # (*batch, 1), ties lower index first
        if best.dtype != indexing:
            best = xp.astype(best, indexing)
        greedy = _repeat_last(xp, best, n, adapter.device(x))
        if not traced(t):
            return greedy

    # A traced 0 draws, and its draw is replaced by the greedy one below. Shifted first: x / t
    # overflows (1e30 / 1e-9: every token inf, a tie); at t = 1 the draw shifts (see
    # `gumbel_argmax_xp`), where a pass over the logits is saved in two levels.
    shifted = traced(t) or t != 1
    if traced(t):
        some = xp.where(t == 0, xp.ones_like(t), t)
        x = shifted_by_temperature(xp, x, some, last)
    elif t != 1:
        x = shifted_by_temperature(xp, x, t, last)
    if k is not None:
        x = top_k_filter_xp(xp, x, k, last, -math.inf)
    if p is not None and (traced(p) or p < 1):  # a traced 1 keeps every token: see the body
        x = _fast.run(
            adapter, "top_p", top_p_filter_xp, xp, x, p=p, axis=last, min_keep=1,
            fill_value=-math.inf,
        )  # fmt: skip

    # Two levels reshape the rows: unknown sizes (while tracing) take one level, as Dask does.
    block = None
    if not adapter.ONE_LEVEL_SAMPLES and None not in x.shape:
        block = gumbel_block(x.shape[-1], math.prod(x.shape[:-1]) * n)
    uniform = adapter.random_uniform
    if adapter.DRAWS_IN_KERNEL:  # JAX: the draw compiles with the argmax
        drawn = _fast.run(
            adapter, "gumbel_sample", gumbel_sample_xp, xp, rng, x, n=n, uniform=uniform,
            block=block, shifted=shifted,
        )  # fmt: skip
    else:
        # The draw on its own, first: torch.compile cannot trace a torch.Generator, and a graph
        # break here, rather than inside the body, leaves one compiled graph after it.
        u = uniform(rng, uniforms_shape(x, n, block), x.dtype, x)
        drawn = _fast.run(
            adapter, "gumbel_argmax", gumbel_argmax_xp, xp, u, x, block=block, shifted=shifted
        )
    if drawn.ndim > 1:
        drawn = xp.moveaxis(drawn, 0, -1)
    drawn = drawn if drawn.dtype == indexing else xp.astype(drawn, indexing)
    return drawn if greedy is None else xp.where(t == 0, greedy, drawn)
