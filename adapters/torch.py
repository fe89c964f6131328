"""PyTorch tensors (on any device), computed with array-api-compat's torch namespace (see
:mod:`xloss.adapters._torch_namespace` for what is replaced there)."""

from __future__ import annotations

import sys
from typing import Any

from xloss.adapters import _kernel_table

NAME = "torch"
HOST_VIEW = True  # np.asarray of a readable array is a view, no copy
# see _torch_kernels: they upcast where they must
TAKES_HALF = ("softmax", "log_softmax", "sparse", "categorical", "binary")
HALF_TARGETS_FROM = 1 << 21
"""Dense half-precision targets of at least this many entries reach the kernels as given:
from this size (``_torch_kernels.BLOCKED_FROM`` in float32) the categorical and binary losses'
eager CPU kernels convert them block by block, in cache, with the predictions (their other
paths convert them whole, first, as the validation did). Converted whole, 2048 x 8192
bfloat16 targets were a written float32 copy of 64 MiB, half the categorical loss's call (24
of 50 ms)."""


def owns(x: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def namespace(x: Any) -> Any:
    from xloss.adapters import _torch_namespace

    return _torch_namespace


def device(x: Any) -> Any:
    return x.device


def readable(x: Any) -> Any:
    torch = sys.modules["torch"]
    if x.device.type != "cpu" or traced(torch) or functorch_wrapped(x):
        return None
    return x.detach()


def traced(torch: Any) -> bool:
    """Whether ``torch.compile`` or ``torch.jit.trace`` is recording this call: Python must not
    branch on values (or, under ``jit.trace``, on sizes), since the branch taken is baked into
    the graph for every later input. ``torch.jit.trace`` records what the eager ops do, so a
    value check, a loop over blocks of rows or a re-sort of tied rows would be replayed for
    inputs of other values and sizes."""
    return torch.compiler.is_compiling() or torch._C._get_tracing_state() is not None


def functorch_wrapped(x: Any) -> bool:
    """Inside torch.func.vmap/grad, tensors are wrapped and their values cannot be read."""
    check = getattr(sys.modules["torch"]._C._functorch, "is_functorch_wrapped_tensor", None)
    return check is not None and check(x)


kernel = _kernel_table.hook("xloss.adapters._torch_kernels")
"""The fused kernel for a computation (see `_torch_kernels`), or ``None``."""


def top_k(x: Any, k: int, axis: int, largest: bool) -> tuple[Any, Any] | None:
    """``torch.topk`` for candidates, then checks for ties; exact keys where they matter.

    ``torch.topk`` ranks NaN above +inf, as xloss does, but breaks ties in no fixed order.
    At k = 1, ``torch.max`` keeps the first occurrence (`_first_best_exact`); so does
    ``torch.min``, used eagerly when it returns no NaN (it ranks NaN lowest).
    Small candidates on the CPU are ordered through NumPy (`_host_top_k`). Otherwise rows
    whose candidates (how many: `_candidates`) hold a tie (or a NaN) are re-sorted by unique
    keys, (value, index); rows where the K-th place ties with the last candidate take the exact
    path on unique keys: an entry left out of the candidates could belong in. Under
    ``torch.compile``, which cannot branch on data in Python, the candidates are always
    re-sorted by unique keys and ``torch.cond`` makes the choice for the whole call (and the
    exact path runs always inside ``torch.func`` transforms; where torch's ``vmap`` has no rule
    for its keys' bit view, as in torch 2.11, the generic stable sort). 64-bit dtypes on the
    exact path decline (``None``) and take the generic stable-sort path, and so do 'meta'
    tensors, whose values cannot be read to check for ties. uint16, uint32 and uint64, which
    ``torch.topk`` and ``gather`` do not take, are ranked on signed keys (`_unsigned_top_k`).
    Under ``torch.jit.trace``, which would replay the checks' choices for every input (and
    whose alias analysis fails on the keys' in-place view), the generic stable sort.
    """
    torch = sys.modules["torch"]
    if x.device.type == "meta":
        return None
    if not x.dtype.is_signed and x.dtype.itemsize > 1:  # uint16, uint32, uint64
        return _unsigned_top_k(torch, x, k, axis, largest)
    n = x.shape[axis]
    first = k == 1 and _first_best_exact(torch, x)
    if first and (largest or not x.dtype.is_floating_point):
        return (torch.max if largest else torch.min)(x, dim=axis, keepdim=True)
    if torch.compiler.is_compiling():
        return _compiled_top_k(torch, x, k, axis, largest)
    if traced(torch):  # torch.jit.trace: the generic stable sort, with no branch on values
        return None
    if functorch_wrapped(x):
        try:
            return _exact_top_k(torch, x, k, axis, largest)
        except RuntimeError as error:  # torch 2.11's vmap has no rule for the keys' bit view
            if "Batching rule not implemented" not in str(error):
                raise
            return None  # the generic stable sort
    if first:  # the smallest: torch.min ranks NaN below every number, xloss above
        values, indices = torch.min(x, dim=axis, keepdim=True)
        if not bool(torch.isnan(values).any()):
            return values, indices
    count = _candidates(k, n, x)
    if _by_sorted_keys(torch, x, k, n, count):
        return _sorted_keys_top_k(torch, x, k, count, axis, largest)
    values, indices = torch.topk(x, count, dim=axis, largest=largest, sorted=True)
    on_host = _host_top_k(torch, values, indices, k, n, axis, largest)
    if on_host is not None:
        return on_host
    values, indices = values.movedim(axis, -1), indices.movedim(axis, -1)
    doubtful = _tied(torch, values[..., 1:], values[..., :-1]).any(dim=-1)
    if bool(doubtful.any()):
        tied_values, tied_indices = values[doubtful], indices[doubtful]
        if _has_keys(torch, x):  # one sort of unique keys
            key = _packed(torch, tied_values, tied_indices, n, largest)
            order = key.argsort(dim=-1, descending=True)
        else:  # 64-bit: by index, then stably by value
            tied_indices, perm = tied_indices.sort(dim=-1)
            tied_values = tied_values.gather(-1, perm)
            key = _zero_canonical(torch, tied_values)
            _, order = key.sort(dim=-1, descending=largest, stable=True)
        values, indices = _writable(torch, x, values, indices)
        indices[doubtful] = tied_indices.gather(-1, order)
        values[doubtful] = tied_values.gather(-1, order)
    if count < n:
        boundary = _tied(torch, values[..., k - 1], values[..., count - 1])
        if bool(boundary.any()):  # those rows only, exactly
            exact = _exact_top_k(torch, x.movedim(axis, -1)[boundary], k, -1, largest)
            if exact is None:
                return None
            values, indices = _writable(torch, x, values, indices)
            values[boundary, :k], indices[boundary, :k] = exact
    return values[..., :k].movedim(-1, axis), indices[..., :k].movedim(-1, axis)


def _unsigned_top_k(torch: Any, x: Any, k: int, axis: int, largest: bool) -> tuple[Any, Any]:
    """Top K of uint16/uint32/uint64 on keys of a signed dtype that order exactly like the
    values: a widening cast, or for uint64 the bits with the top one flipped (``u - 2**63``),
    the values read back from the keys. Keys that the fast path declines take a stable sort."""
    from xloss.adapters._torch_namespace import _signed_keys

    flip = torch.iinfo(torch.int64).min
    keys = _signed_keys(x)
    result = top_k(keys, k, axis, largest)
    if result is None:
        order = torch.sort(keys, dim=axis, descending=largest, stable=True).indices
        indices = order.narrow(axis, 0, k)
        result = torch.gather(keys, axis, indices), indices
    values, indices = result
    values = (values ^ flip).view(x.dtype) if x.dtype.itemsize == 8 else values.to(x.dtype)
    return values, indices


def _by_sorted_keys(torch: Any, x: Any, k: int, n: int, count: int) -> bool:
    """Whether `_sorted_keys_top_k` takes this eager call: on the CPU, for more candidates
    than NumPy looks at directly (`HOST_CHECK`), above k = `SORTED_CANDIDATES` or of 8- and
    16-bit values (where ties are many)."""
    if x.device.type != "cpu" or not _has_keys(torch, x) or x.numel() // n * count <= HOST_CHECK:
        return False
    return k > SORTED_CANDIDATES or x.dtype.itemsize <= 2


def _sorted_keys_top_k(
    torch: Any, x: Any, k: int, count: int, axis: int, largest: bool
) -> tuple[Any, Any]:
    """``torch.topk``'s candidates unsorted, ordered by one NumPy sort of their unique keys
    (`_packed`: ties to the lower index, NaN first, -0.0 tied with 0.0), the indices read from
    the keys' low bits and the values gathered from ``x`` (gradients flow). Rows whose K-th
    place ties with their last candidate are redone exactly (`_exact_top_k`). ``torch.topk``'s
    own sort of its K best is slow on the CPU (2048 x 8192 at k = 1000: 104 ms sorted, 70 ms
    not) and so is ``torch.sort`` of the keys (31 ms), where NumPy's vectorised sort of
    integers takes 2.5 ms (int32 keys) to 6 ms (int64). Measured, xloss / ``torch.topk``,
    eager, candidates sorted by ``torch.topk`` (and tied rows re-sorted) against this:
    2048 x 8192 float32 k = 200 1.02x / 0.98x, k = 1000 1.05x / 0.90x; bfloat16 k = 50
    1.21x / 1.19x, 200 1.12x / 1.00x, 1000 1.45x / 0.84x; 4096 x 2048 bfloat16 k = 128
    1.19x / 0.97x; 512 x 32000 float32 k = 1000 1.02x / 0.95x, bfloat16 1.17x / 0.98x.
    float32 at k = 50 stays with ``torch.topk``'s order (1.02x / 1.07x)."""
    held = x.detach().movedim(axis, -1)
    keys = _candidate_keys(torch, held, count, largest)
    chosen = _best_of_candidates(torch, held, keys, k, largest).movedim(-1, axis)
    return torch.gather(x, axis, chosen), chosen


def _candidate_keys(torch: Any, held: Any, count: int, largest: bool) -> Any:
    """The unique keys (`_packed`: ties to the lower index, NaN first, -0.0 tied with 0.0) of
    ``torch.topk``'s ``count`` candidates of ``held`` (detached, the axis last), taken
    unsorted."""
    values, indices = torch.topk(held, count, dim=-1, largest=largest, sorted=False)
    return _packed(torch, values, indices, held.shape[-1], largest)


def _chosen(torch: Any, best: Any, last: Any, n: int, count: int) -> tuple[Any, Any | None]:
    """The indices read back from the K best keys' low bits (``best``, the best first), and per
    row whether its K-th place ties with its last candidate (``last``, the smallest key; then
    an entry left out could belong in), ``None`` where every entry is a candidate."""
    low = 16 if best.dtype == torch.int32 else 32  # the index's bits
    chosen = (n - 1) - (best & ((1 << low) - 1)).to(torch.int64)
    if count == n:
        return chosen, None
    return chosen, (best[..., -1] >> low) == (last >> low)


def _best_of_candidates(torch: Any, held: Any, keys: Any, k: int, largest: bool) -> Any:
    """The indices of the K best of ``held`` (on the CPU, the axis last) from its candidates'
    keys (`_candidate_keys`), sorted by NumPy (`_best_keys`); the rows whose K-th place ties
    with their last candidate are redone exactly (`_exact_top_k`), those rows only. Eagerly, and
    under ``torch.compile`` as a custom operator (`compiled_best_of_candidates`)."""
    chosen, boundary = _chosen(torch, *_best_keys(keys, k), held.shape[-1], keys.shape[-1])
    if boundary is not None and bool(boundary.any()):
        exact = _exact_top_k(torch, held[boundary], k, -1, largest)
        assert exact is not None  # the dtype has keys
        chosen[boundary] = exact[1]
    return chosen


def _best_keys(keys: Any, k: int) -> tuple[Any, Any]:
    """The ``k`` largest of each row of unique integer keys on the CPU, the largest first, and
    each row's smallest key, by one NumPy sort: its vectorised sort of integers takes 2.5 ms
    (int32) to 6 ms (int64) on 2048 x 1008 keys, where ``torch.sort`` takes 31 ms."""
    np = sys.modules["numpy"]
    torch = sys.modules["torch"]
    ascending = np.sort(keys.numpy(), axis=-1)
    best = np.ascontiguousarray(ascending[..., ::-1][..., :k])
    return torch.from_numpy(best), torch.from_numpy(ascending[..., 0].copy())


def _sorted_best_keys(keys: Any, k: int) -> tuple[Any, Any]:
    """`_best_keys` by ``torch.sort``: on any device, and traced."""
    ordered = sys.modules["torch"].sort(keys, dim=-1, descending=True).values
    return ordered[..., :k], ordered[..., -1]


def _writable(torch: Any, x: Any, values: Any, indices: Any) -> tuple[Any, Any]:
    """``torch.topk``'s outputs, to be written into: copies where autograd records the call
    (its backward keeps them), else themselves (a copy of 2048 x 1008 candidates' values and
    indices is fresh memory, 3.5 ms, 3% of a ``top_k`` at k = 1000)."""
    if x.requires_grad and torch.is_grad_enabled():
        return values.clone(), indices.clone()
    return values, indices


def _first_best_exact(torch: Any, x: Any) -> bool:
    """Whether ``torch.max``/``torch.min`` along a dimension give xloss's k = 1 for ``x``: they
    keep the first occurrence of the best value (documented: "the indices of the first maximal
    value") and -0.0 ties with 0.0, in the eager CPU loop (it replaces its best only on
    ``!(value <= best)`` and stops at a NaN), in CUDA's ``GreaterOrNan``/``LessOrNan`` and in
    torch.compile's (Inductor's C++ and Triton ``argmax_combine``/``maximum_with_index``: NaN
    first, then the lower index on equal values). A NaN wins both (its first occurrence): what
    xloss ranks first for the largest, and last for the smallest (the caller checks).
    One reduction and no candidates to check: faster than ``torch.topk`` at every size measured
    (xloss / ``torch.topk(x, 1)``, eager, with it and with the candidates' path: 8 x 10 4.1x and
    6.9x, 256 x 1024 0.91x and 1.27x, 2048 x 8192 0.56x and 1.05x, bfloat16 0.93x and 1.31x;
    compiled, 2048 x 8192: 0.41x and 1.06x). No kernels for uint16-64 or 8-bit floats; other
    devices are not known to keep the first occurrence."""
    if x.device.type not in ("cpu", "cuda"):
        return False
    dtype = x.dtype
    if dtype.is_floating_point:
        return dtype.itemsize >= 2
    return dtype in (torch.int8, torch.uint8, torch.int16, torch.int32, torch.int64)


HOST_CHECK = 1 << 14
"""Up to this many candidates on the CPU, NumPy orders them (`_host_top_k`); above, torch ops
do. On 8 x 10 a call takes 12 us against 30 us; on one bfloat16 row of 32,000 logits at
k = 50, where ties are common, 61 us against 136 us (``torch.topk``: 36 us)."""


def _host_top_k(
    torch: Any, values: Any, indices: Any, k: int, n: int, axis: int, largest: bool
) -> tuple[Any, Any] | None:
    """The first K of small CPU candidates, ordered through NumPy: strictly ordered candidates
    (no tie, -0.0 and 0.0 included, and no NaN, which compares false) are the answer as they
    are; otherwise one ``np.lexsort`` by (NaN, value, index) orders them (on a few candidates
    cheaper than the packed keys), and the order picks from the candidates (so gradients flow).
    ``None`` for other candidates, and when some row's K-th place ties with its last candidate
    (the exact path must then look at the whole row). bfloat16, which NumPy lacks, is widened
    to float32 first: exactly."""
    if values.numel() > HOST_CHECK or values.device.type != "cpu":
        return None
    np = sys.modules["numpy"]
    last = values.ndim - 1
    if axis != last:
        values, indices = values.movedim(axis, -1), indices.movedim(axis, -1)
    held = values.detach()
    v = (held.float() if held.dtype == torch.bfloat16 else held).numpy()
    strict = v[..., 1:] < v[..., :-1] if largest else v[..., 1:] > v[..., :-1]
    if strict.all():
        values, indices = values[..., :k], indices[..., :k]
    else:
        from xloss.adapters import numpy as numpy_adapter

        # torch.topk sorts the values (NaN above +inf): only ties are out of order, and the
        # values at each place are already the final ones
        if v.shape[-1] < n and numpy_adapter.tied(np, v[..., k - 1], v[..., -1]).any():
            return None
        keys = numpy_adapter.order_keys(np, v, indices.numpy(), largest)
        pick = torch.from_numpy(np.lexsort(keys, axis=-1)[..., :k])
        values, indices = values.gather(-1, pick), indices.gather(-1, pick)
    if axis != last:
        values, indices = values.movedim(-1, axis), indices.movedim(-1, axis)
    return values, indices


SORTED_CANDIDATES = 128
"""Up to this k, float32 takes K + 1 candidates; above, K + `EXTRA` (see `_candidates`)."""

EXTRA = 8
"""Candidates past the K-th (see `_candidates`)."""


def _candidates(k: int, n: int, x: Any) -> int:
    """How many candidates ``torch.topk`` returns: enough that a tie at the K-th place seldom
    runs through the last of them (an entry left out could then belong in: its row takes the
    exact path), few enough to cost little (k = 1 under torch.compile: 1.3x with K + 8).

    float32, 2048 rows of 8192 normal values: with K + 1 the K-th place ties in about 4 calls of
    10 at k = 1000; with K + 8 that needs a run of 9 equal values. 16-bit floats hold 256 values
    an octave, so ties are many (bfloat16, eager, against ``torch.topk``: K + 1 gives 2.0x,
    9.0x, 3.9x at k = 1, 50, 1000; K + 8 1.5x, 1.2x, 2.4x; K + 32 at k = 1000 1.4x).

    On the CPU, 32-bit values take fewer extra candidates where K + 8 would cross
    `PARTIAL_SORT`'s limit and K does not; 16-bit values keep theirs (with fewer, more rows tie
    with their last candidate and take the exact path: bfloat16, 2048 x 8192, k = 121, 124,
    127 cut to 128 candidates measured 1.23x, 2.14x, 3.93x, against 1.64-1.70x uncut).
    """
    itemsize = x.dtype.itemsize
    if itemsize > 2:
        extra = 1 if k <= SORTED_CANDIDATES else EXTRA
    else:
        extra = EXTRA if k <= SORTED_CANDIDATES else 4 * EXTRA
    count = min(k + extra, n)
    limit = n // PARTIAL_SORT
    if itemsize > 2 and x.device.type == "cpu" and k < limit < count:
        return limit
    return count


PARTIAL_SORT = 64
"""``torch.topk`` on the CPU partially sorts a row of ``n`` entries where ``k * 64 <= n`` and
selects with ``nth_element`` above, which costs half as much again (2048 x 8192 float32: 40 ms
at k = 128, 60 ms at k = 129). Candidates past the K-th can cross that limit where K does not
(float32 k = 128 of 8192: 1.6x ``torch.topk``); where K + 1 stays within it, 32-bit values take
no more candidates than it allows (`_candidates`: 32,000 float32 entries a row, k = 493 to 499,
1.32-1.34x -> 1.06-1.13x in three runs)."""


SMALL = 1 << 15
"""Under torch.compile, inputs up to this many entries take the exact path directly:
``torch.cond`` costs about 20 us a call, more than the keys of a small input (8 x 10: 2.3x
native with the cond, 1.2x without; 64 x 256: 1.8x and 1.3x; 256 x 1024: 1.3x and 1.9x)."""


def _has_keys(torch: Any, x: Any) -> bool:
    """Whether ``x``'s dtype has unique packed keys (`_packed`): up to 32 bits, not uint32."""
    return x.dtype.itemsize <= 4 and x.dtype != getattr(torch, "uint32", None)


def _compiled_top_k(torch: Any, x: Any, k: int, axis: int, largest: bool) -> tuple[Any, Any] | None:
    """Under ``torch.compile``: the candidates' keys (`_candidate_keys`), then on the CPU the
    eager path's ordering of them and its exact redo of the rows whose K-th place ties with
    their last candidate, through a custom operator that the compiled program calls as it is
    (`compiled_best_of_candidates`). Elsewhere (other devices, ``torch.export``), without
    data-dependent Python: the keys sorted by ``torch.sort``, then ``torch.cond`` on such a tie
    in some row: the exact path for the whole input. The ``cond`` picks indices only: torch
    2.13 cannot differentiate a ``cond`` with an integer output ("outs_to_grad length (1) !=
    tangents length (2)"). The values are gathered from ``x`` last (gradients flow). Inputs of
    at most `SMALL` entries take the exact path directly."""
    if not _has_keys(torch, x):
        return None  # no exact path for these: the generic body
    if x.numel() <= SMALL:
        return _exact_top_k(torch, x, k, axis, largest)
    from xloss.adapters._torch_operators import compiled_best_of_candidates

    held = x.detach().movedim(axis, -1)
    keys = _candidate_keys(torch, held, _candidates(k, x.shape[axis], x), largest)
    on_host = compiled_best_of_candidates(x)
    if on_host is not None:
        chosen = on_host(held, keys, k, largest)
    else:
        best, last = _sorted_best_keys(keys, k)
        chosen, boundary = _chosen(torch, best, last, held.shape[-1], keys.shape[-1])
        if boundary is not None:
            shape = chosen.shape
            # torch.cond wants both branches' outputs alike and not aliasing its inputs; they
            # travel flattened (torch 2.13's cond fails on (1, k)-shaped operands sliced from a
            # batch of one).

            def fast(held: Any, chosen: Any) -> Any:
                return chosen.clone()

            def exact(held: Any, chosen: Any) -> Any:
                result = _exact_top_k(torch, held, k, -1, largest)
                assert result is not None
                return result[1].reshape(-1)

            operands = (held, chosen.reshape(-1))
            chosen = torch.cond(boundary.any(), exact, fast, operands).reshape(shape)
    chosen = chosen.movedim(-1, axis)
    return torch.gather(x, axis, chosen), chosen


def _tied(torch: Any, a: Any, b: Any) -> Any:
    same = a == b
    return same | (torch.isnan(a) & torch.isnan(b)) if a.dtype.is_floating_point else same


def _zero_canonical(torch: Any, x: Any) -> Any:
    """-0.0 as 0.0 (a sort key; torch.sort already treats them as equal, this makes sure)."""
    return torch.where(x == 0, torch.zeros_like(x), x) if x.dtype.is_floating_point else x


def _exact_top_k(torch: Any, x: Any, k: int, axis: int, largest: bool) -> tuple[Any, Any] | None:
    """``torch.topk`` on unique keys ``(value key << 32) | reversed index``."""
    if not _has_keys(torch, x):
        return None
    n = x.shape[axis]
    shape = [1] * x.ndim
    shape[axis] = n
    index = torch.arange(n, device=x.device, dtype=torch.int64).reshape(shape)
    _, indices = torch.topk(_packed(torch, x, index, n, largest), k, dim=axis, sorted=True)
    return torch.gather(x, axis, indices), indices


def _packed(torch: Any, x: Any, index: Any, n: int, largest: bool) -> Any:
    """Unique keys ``(value key << 32) | (n - 1 - index)``: the largest key is the best entry
    (the largest value, or the smallest; ties to the lower index). int64, but int32 for values
    of 8 or 16 bits (not uint16) in rows of at most 65,536: ``(value key << 16) | (n - 1 -
    index)``."""
    key = _sortable_key(torch, x)
    key = key if largest else ~key
    if x.dtype.itemsize <= 2 and x.dtype != getattr(torch, "uint16", None) and n <= 1 << 16:
        return (key << 16) | (n - 1 - index).to(torch.int32)
    return (key.to(torch.int64) << 32) | (n - 1 - index)


def _sortable_key(torch: Any, x: Any) -> Any:
    """int32 keys ordered like ``x``'s values: NaN above +inf (all NaNs equal), -0.0 == 0.0."""
    if not x.dtype.is_floating_point:
        return x.to(torch.int32)
    int_type = {2: torch.int16, 4: torch.int32}[x.dtype.itemsize]
    top = torch.iinfo(int_type).max
    x = x.detach()
    bits = x.contiguous().view(int_type).to(torch.int32, copy=True)  # sign and magnitude
    sign = torch.bitwise_right_shift(bits, 31)  # -1 where negative, else 0
    bits.bitwise_and_(top).bitwise_xor_(sign).sub_(sign)  # the magnitude m, or ~m + 1 = -m
    return bits.masked_fill_(torch.isnan(x), top)


def check_rng(rng: Any, like: Any) -> None:
    """``rng`` (not an int seed) must be a ``torch.Generator`` on the logits' device type."""
    torch = sys.modules["torch"]
    if not isinstance(rng, torch.Generator):
        raise TypeError(
            f"`rng` must be an int seed or a torch.Generator for PyTorch logits; received "
            f"{type(rng).__module__}.{type(rng).__qualname__}."
        )
    if rng.device.type != like.device.type:
        raise ValueError(
            f"`rng` is a torch.Generator on {rng.device} but the logits are on {like.device}: "
            f"create it there, torch.Generator(device=logits.device)."
        )


def random_uniform(rng: Any, shape: tuple[int, ...], dtype: Any, like: Any) -> Any:
    """``torch.rand`` with the given Generator, or ``torch.Generator(device).manual_seed(seed)``.

    torch.compile cannot trace a Generator: with ``fullgraph=True`` this raises torch's
    ``Unsupported``; otherwise the graph breaks here and the draw runs eagerly.
    """
    torch = sys.modules["torch"]
    generator = (
        torch.Generator(device=like.device).manual_seed(rng) if isinstance(rng, int) else rng
    )
    # Drawn in float64 (`xloss.adapters`), but on Apple's MPS, which has no float64.
    wide = dtype if like.device.type == "mps" else torch.float64
    u = torch.rand(shape, generator=generator, dtype=wide, device=like.device)
    return u if u.dtype == dtype else u.to(dtype)
