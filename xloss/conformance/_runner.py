"""Run the case library on installed backends, and check a user's own loss against it."""

from __future__ import annotations

import contextlib
import difflib
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from xloss.conformance import _frameworks
from xloss.conformance._cases import CASES, Case, Native

ULPS = 64  # relative error allowed per unit roundoff of the compute dtype (as the test suite)
DTYPES = ("float16", "bfloat16", "float32", "float64")
# The frameworks' own functions run on the cases' float32 inputs, whatever dtype xloss runs in,
# and are judged at float32's tolerance.
NATIVE_DTYPE = "float32"
# The backend whose run includes a native function, by the module the native needs; any other
# module is its own backend (torch's functions run with torch, tf.nn's with tensorflow).
NATIVE_BACKEND = {"optax": "jax", "keras": "tensorflow"}
# Names people reach for that are not the import names the runner knows backends by.
ALIASES = {"pytorch": "torch", "tf": "tensorflow", "np": "numpy", "jnp": "jax",
           "strict": "array_api_strict", "array_api": "array_api_strict"}  # fmt: skip


def _eps(dtype: str) -> float:
    if dtype == "bfloat16":
        return 2.0**-7
    return float(np.finfo(dtype).eps)


def tolerance(dtype: str) -> float:
    """Half precision computes in float32 and rounds once to its own dtype."""
    return max(ULPS * _eps("float64" if dtype == "float64" else "float32"), 2 * _eps(dtype))


@dataclass(frozen=True)
class Cell:
    """One comparison against the float64 reference."""

    ok: bool
    max_abs: float = math.nan
    max_rel: float = math.nan
    error: str | None = None  # an exception raised instead of a result

    def describe(self) -> str:
        if self.error:
            return f"error: {self.error}"
        return f"{'ok' if self.ok else 'FAIL'} abs {self.max_abs:.1e} rel {self.max_rel:.1e}"


def compare(actual: Any, expected: Any, tol: float) -> Cell:
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    if a.shape != e.shape:
        return Cell(False, error=f"shape {a.shape}, expected {e.shape}")
    same_nonfinite = np.array_equal(np.isnan(a), np.isnan(e)) and np.array_equal(
        a[np.isinf(e)], e[np.isinf(e)]
    )
    finite = np.isfinite(e) & np.isfinite(a)
    diff = np.abs(a[finite] - e[finite])
    max_abs = float(diff.max()) if diff.size else 0.0
    rel = diff / np.maximum(np.abs(e[finite]), np.finfo(np.float64).tiny)
    max_rel = float(rel.max()) if rel.size else 0.0
    ok = same_nonfinite and bool(np.all(diff <= tol + tol * np.abs(e[finite])))
    return Cell(ok, max_abs, max_rel)


@dataclass
class CaseResult:
    case: str
    cells: dict[str, Cell] = field(default_factory=dict)  # backend -> xloss vs reference
    natives: dict[str, Cell] = field(default_factory=dict)  # native label -> vs reference


@dataclass
class Report:
    """The conformance matrix: cases by backends, plus the frameworks' own functions."""

    backends: list[str]
    missing: dict[str, str]  # backend -> how to install it
    versions: dict[str, str]
    dtype: str
    results: list[CaseResult]
    # What makes the run fail besides a cell: a backend asked for by name that is not
    # installed, one that is installed but fails to import, no backend run at all.
    problems: list[str] = field(default_factory=list)

    @property
    def summary(self) -> dict[str, int]:
        cells = [c for r in self.results for c in (*r.cells.values(), *r.natives.values())]
        passed = sum(c.ok for c in cells)
        return {
            "passed": passed,
            "failed": len(cells) - passed,
            "cases": len(self.results),
            "problems": len(self.problems),
        }

    @property
    def ok(self) -> bool:
        """True when every comparison passed, on at least one backend, and nothing asked for
        was left out."""
        return self.summary["failed"] == 0 and not self.problems

    def to_dict(self) -> dict[str, Any]:
        def cell(c: Cell) -> dict[str, Any]:
            out: dict[str, Any] = {"ok": c.ok, "max_abs": _finite(c.max_abs)}
            out["max_rel"] = _finite(c.max_rel)
            if c.error:
                out["error"] = c.error
            return out

        return {
            "backends": self.backends,
            "missing": self.missing,
            "versions": self.versions,
            "dtype": self.dtype,
            "problems": self.problems,
            "tolerance": tolerance(self.dtype),
            "native_dtype": NATIVE_DTYPE,
            "native_tolerance": tolerance(NATIVE_DTYPE),
            "cases": [
                {
                    "name": r.case,
                    "backends": {b: cell(c) for b, c in r.cells.items()},
                    "natives": {n: cell(c) for n, c in r.natives.items()},
                }
                for r in self.results
            ],
            "summary": self.summary,
        }


def _finite(x: float) -> float | None:
    return None if math.isnan(x) else x


def _held(framework: _frameworks.Framework, array: np.ndarray, dtype: str | None) -> Any:
    """``array`` as a backend array (floating ones in ``dtype``)."""
    if dtype is None:
        return framework.from_numpy(array)
    if dtype in ("float16", "bfloat16"):
        return framework.cast(framework.from_numpy(array.astype(np.float32)), dtype)
    return framework.from_numpy(array.astype(dtype))


def run_case(case: Case, framework: _frameworks.Framework, dtype: str) -> Cell:
    """xloss on one backend against the float64 reference of the inputs it actually holds."""
    try:
        arrays = [
            _held(framework, x, dtype if floating else None)
            for x, floating in zip(case.inputs, case.floating)
        ]
        held = [framework.to_numpy(a) for a in arrays]
        result = framework.to_numpy(case.call(*arrays))
    except Exception as error:  # a failure to report, whatever it is
        return Cell(False, error=f"{type(error).__name__}: {error}"[:200])
    inputs = [h.astype(np.float64) if f else h for h, f in zip(held, case.floating)]
    compute = "float64" if dtype == "float64" else "float32"
    return compare(result, case.reference(*inputs, compute_dtype=compute), tolerance(dtype))


def run_native(case: Case, native: Any) -> Cell:
    try:
        result = native.compute(*case.inputs)
        result = result.detach().numpy() if hasattr(result, "detach") else np.asarray(result)
    except Exception as error:
        return Cell(False, error=f"{type(error).__name__}: {error}"[:200])
    expected = case.reference(*case.inputs, compute_dtype=NATIVE_DTYPE)
    return compare(result, expected, tolerance(NATIVE_DTYPE))


def available() -> tuple[list[str], dict[str, str]]:
    """(installed backends, {missing backend: install hint})."""
    present = [b for b in _frameworks.BACKENDS if _frameworks.installed(b)]
    missing = {b: _frameworks.INSTALL_HINT[b] for b in _frameworks.BACKENDS if b not in present}
    return present, missing


def known(name: str) -> str:
    """``name`` if it is a backend the runner knows, else a ValueError naming the known ones
    (and the likely one meant: ``torch`` for ``pytorch``, ``tensorflow`` for ``tf``)."""
    if name in _frameworks.BACKENDS:
        return name
    key = str(name).strip().lower().replace("-", "_")
    parts = [p.strip() for p in key.split(",") if p.strip()]
    if len(parts) > 1:
        hint = f" (separate the names with spaces: {' '.join(ALIASES.get(p, p) for p in parts)})"
    else:
        guess = key if key in _frameworks.BACKENDS else ALIASES.get(key)
        close = difflib.get_close_matches(key, _frameworks.BACKENDS, n=1, cutoff=0.7)
        guess = guess or (close[0] if close else None)
        hint = f" (did you mean {guess!r}?)" if guess else ""
    raise ValueError(
        f"unknown backend {name!r}{hint}; the known backends are {', '.join(_frameworks.BACKENDS)}."
    )


def requested(backends: Iterable[str] | None, dtype: str = "float32") -> list[str] | None:
    """The backends asked for, checked: each a known name, each with ``dtype``; in order,
    without repeats (None for "every installed one"). A ValueError says what is wrong."""
    if dtype not in DTYPES:
        raise ValueError(f"`dtype` must be one of {', '.join(DTYPES)}; received {dtype!r}.")
    if backends is None:
        return None
    if isinstance(backends, str):
        backends = [backends]
    names = list(dict.fromkeys(known(b) for b in backends))
    if not names:
        raise ValueError("no backend asked for: name one or more, or pass None for every one.")
    for name in names:
        if dtype not in _frameworks.dtypes(name):
            raise ValueError(
                f"backend {name!r} has no {dtype} (it has {', '.join(_frameworks.dtypes(name))});"
                f" choose another dtype or leave {name} out."
            )
    return names


def run(
    backends: Iterable[str] | None = None,
    dtype: str = "float32",
    progress: Callable[[str], None] | None = None,
) -> Report:
    """Run every case on each backend (default: every installed one) in ``dtype``.

    Args:
        backends: names among numpy, jax, torch, tensorflow, array_api_strict. A name asked for
            that is not installed (or fails to import) makes the report fail (``report.ok`` is
            False, with the reason and the install command in ``report.problems``); by
            default, backends that are not installed are listed in ``report.missing`` only.
            With names given, only the named frameworks' own functions run (optax's count as
            JAX's, Keras's as TensorFlow's); by default, every installed one's.
        dtype: float16, bfloat16, float32 or float64. By default, the installed backends
            lacking it are left out; a report that runs no backend at all fails. The
            frameworks' own functions run in float32 (``NATIVE_DTYPE``) whatever ``dtype`` is.
        progress: called with a line of text as the run goes on.

    Returns:
        A `Report`; ``report.ok`` is True when every comparison passed, on at least one
        backend, and every backend asked for ran.

    Raises:
        ValueError: an unknown backend name (the known ones are in the message), an unknown
            dtype, or a backend asked for by name that has no such dtype.
    """
    names = requested(backends, dtype)
    present, missing = available()
    problems = [
        f"{b} was asked for but is not installed (install with: {missing[b]})"
        for b in names or []
        if b not in present
    ]
    frameworks = {}
    for b in present if names is None else [b for b in names if b in present]:
        try:
            frameworks[b] = _frameworks.load(b)
        except Exception as error:  # installed (found), but it does not import
            message = f"{type(error).__name__}: {error}"[:300]
            problems.append(f"{b} is installed but fails to import: {message}")
    chosen = [b for b in frameworks if dtype in _frameworks.dtypes(b)]
    if not chosen:
        verb = "has" if len(frameworks) == 1 else "have"
        have = f": {', '.join(frameworks)} {verb} no {dtype}" if frameworks else ""
        problems.append(f"no backend ran{have}")
    results = []
    for number, case in enumerate(CASES, start=1):
        if progress:
            progress(f"[{number}/{len(CASES)}] {case.name}")
        result = CaseResult(case.name)
        for name in chosen:
            context = _x64(name) if dtype == "float64" else contextlib.nullcontext()
            with context:
                result.cells[name] = run_case(case, frameworks[name], dtype)
        for native in case.natives:
            if _frameworks.installed(native.requires) and _native_wanted(native, names):
                result.natives[native.label] = run_native(case, native)
        results.append(result)
    versions = {b: frameworks[b].version for b in frameworks}
    return Report(chosen, missing, versions, dtype, results, problems)


def _native_wanted(native: Native, names: list[str] | None) -> bool:
    """Every native by default; with backends named, only those of the named frameworks
    (optax's count as JAX's, Keras's as TensorFlow's): the others are not even imported."""
    return names is None or NATIVE_BACKEND.get(native.requires, native.requires) in names


def _x64(name: str) -> Any:
    if name == "jax":
        import jax

        return jax.enable_x64(True)
    return contextlib.nullcontext()


@dataclass
class CheckResult:
    """What `check` found: ``ok`` and one row per case."""

    ok: bool
    backend: str
    rows: list[tuple[str, Cell]]

    def __str__(self) -> str:
        width = max(len(name) for name, _ in self.rows)
        lines = [f"{'case':<{width}}  result (vs xloss's float64 reference, on {self.backend})"]
        lines += [f"{name:<{width}}  {cell.describe()}" for name, cell in self.rows]
        lines.append("all cases agree" if self.ok else "some cases differ")
        return "\n".join(lines)


def check(
    fn: Callable[[Any, Any], Any], kind: str, backend: str = "numpy", **loss_kwargs: Any
) -> CheckResult:
    """Run the case library against your own loss ``fn(y_true, y_pred)``.

    ``kind`` is ``"categorical"``, ``"sparse"`` or ``"binary"``; ``loss_kwargs`` say what ``fn``
    computes in xloss's (Keras's) terms (``from_logits``, ``label_smoothing``, ``axis``,
    ``ignore_class``). The cases whose inputs suit those options are run; ``fn`` may return one
    loss per sample or their mean.

    Examples:
        >>> import numpy as np
        >>> from xloss import conformance
        >>> def my_loss(labels, logits):  # a hand-written port, to be checked
        ...     z = logits - logits.max(-1, keepdims=True)
        ...     lse = np.log(np.exp(z).sum(-1))
        ...     return lse - np.take_along_axis(z, labels[:, None], -1)[:, 0]
        >>> conformance.check(my_loss, kind="sparse", from_logits=True).ok
        True
    """
    if kind not in ("categorical", "sparse", "binary"):
        raise ValueError(f"`kind` must be 'categorical', 'sparse' or 'binary'; received {kind!r}.")
    if not _frameworks.installed(known(backend)):
        raise ValueError(
            f"backend {backend!r} is not installed; install it with: "
            f"{_frameworks.INSTALL_HINT[backend]}"
        )
    framework = _frameworks.load(backend)
    from xloss.conformance import _reference as ref

    references: dict[str, Callable[..., Any]] = {
        "categorical": ref.categorical,
        "sparse": ref.sparse_categorical,
        "binary": ref.binary,
    }
    reference = references[kind]
    wanted = {
        k: loss_kwargs.get(k, d)
        for k, d in (("from_logits", False), ("axis", -1), ("ignore_class", None))
    }
    rows = []
    for case in CASES:
        options = {
            k: case.loss_kwargs.get(k, d)
            for k, d in (("from_logits", False), ("axis", -1), ("ignore_class", None))
        }
        if case.kind != kind or options != wanted:
            continue
        y_true, y_pred = case.inputs
        try:
            result = framework.to_numpy(
                fn(framework.from_numpy(y_true), framework.from_numpy(y_pred))
            )
        except Exception as error:
            rows.append((case.name, Cell(False, error=f"{type(error).__name__}: {error}"[:200])))
            continue
        expected = reference(y_true, y_pred, **loss_kwargs, compute_dtype="float32")
        if np.ndim(result) == 0:
            expected = np.mean(expected)
        rows.append(
            (case.name, compare(result, expected, tolerance(str(np.asarray(y_pred).dtype))))
        )
    if not rows:
        raise ValueError(f"no case of kind {kind!r} matches the options {wanted}.")
    return CheckResult(all(cell.ok for _, cell in rows), backend, rows)
