"""Run the case library on installed backends, and check a user's own loss against it."""

from __future__ import annotations

import contextlib
import difflib
import json
import math
import os
import sys
from collections.abc import Callable, Iterable, Sequence
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


# The cases whose quantity is a loss of the logits (with ``from_logits=True``): their allowance
# has a term for the rounding of the inputs themselves (see `input_term`).
LOSS_KINDS = ("categorical", "sparse", "binary")


def _eps(dtype: str) -> float:
    if dtype == "bfloat16":
        return 2.0**-7
    return float(np.finfo(dtype).eps)


def dtype_name(dtype: Any) -> str:
    """The name (one of `DTYPES`) of a floating dtype given any way ``np.dtype`` understands it
    (``"float64"``, ``"f8"``, ``"double"``, ``np.float64``, ``np.dtype("float64")``), or
    ``"bfloat16"`` (the name, or ml_dtypes' type); a ValueError for any other."""
    if isinstance(dtype, str) and dtype.strip().lower() == "bfloat16":
        return "bfloat16"
    try:
        name = np.dtype(dtype).name if dtype is not None else None
    except (TypeError, ValueError):
        name = None
    if name in DTYPES:
        return str(name)
    raise ValueError(
        f"`dtype` must be one of {', '.join(DTYPES)} (a name, or anything np.dtype reads as one:"
        f" 'f8', 'double', np.float64, ...); received {dtype!r}."
    )


def tolerance(dtype: Any) -> float:
    """The relative (and absolute) tolerance for results in ``dtype``: 64 units of roundoff of
    the dtype computed in (float64 for float64, float32 otherwise: half precision computes in
    float32 and rounds once to its own dtype, hence at least 2 of its own units).

    ``dtype`` is float16, bfloat16, float32 or float64, named or given any way ``np.dtype``
    reads it (``"f8"``, ``"double"``, ``np.float64``); any other raises a ValueError.
    """
    name = dtype_name(dtype)
    return max(ULPS * _eps("float64" if name == "float64" else "float32"), 2 * _eps(name))


def input_term(case: Case, inputs: Sequence[Any], compute_dtype: str) -> Any:
    """The absolute term of a case's allowance for the rounding of its inputs: for a loss from
    logits, ``eps(compute_dtype) * max |finite logit|`` of each sample (0 for every other case).

    A backward-stable computation gives the exact loss of inputs perturbed by half an ulp each;
    the loss's gradient with respect to a sample's logits sums to at most 2 in absolute value
    (``softmax - target``; ``(sigmoid - z) / n`` for binary), so that perturbation moves the
    loss by at most ``eps * max |logit|``. optax's ``logsumexp(x) - x[y]`` at ``+-1e4`` is such
    a computation, 2.3e-4 off where the loss is 1.79: within this term, not within the relative
    tolerance of the output.
    """
    if case.kind not in LOSS_KINDS or not case.loss_kwargs.get("from_logits", False):
        return 0.0
    logits = np.asarray(inputs[1], dtype=np.float64)
    size = np.where(np.isfinite(logits), np.abs(logits), 0.0)
    return _eps(compute_dtype) * np.max(size, axis=case.loss_kwargs.get("axis", -1))


@dataclass(frozen=True)
class Cell:
    """One comparison against the float64 reference.

    ``max_abs`` and ``max_rel`` are the largest absolute error and the largest relative error
    ``|a - e| / |e|`` (over the positions where the reference ``e`` is non-zero: where it is 0,
    only the absolute error means anything); ``used`` is the largest fraction of its allowance
    an error takes (above 1: a failure). All three are ``inf`` when ``nonfinite`` positions hold
    a nan or an infinity that the reference does not hold there (or the reverse).
    """

    ok: bool
    max_abs: float = math.nan
    max_rel: float = math.nan
    error: str | None = None  # an exception raised instead of a result
    used: float = math.nan
    nonfinite: int = 0

    def describe(self) -> str:
        if self.error:
            return f"error: {self.error}"
        text = f"{'ok' if self.ok else 'FAIL'} abs {self.max_abs:.1e} rel {self.max_rel:.1e}"
        if self.nonfinite:
            text += f" ({self.nonfinite} nan/inf values where the reference differs)"
        elif not self.ok:
            text += f" ({self.used:.1e} times the allowance)"
        return text


def compare(actual: Any, expected: Any, tol: float, atol: Any = 0.0) -> Cell:
    """``actual`` against the reference ``expected``, position by position.

    A non-finite reference value must be matched exactly (nan by nan, ``+inf`` by ``+inf``,
    ``-inf`` by ``-inf``), and a finite one by a finite value within
    ``tol * (1 + |expected|) + atol`` (``atol``: `input_term`'s per-sample values, or one number;
    the largest of them for a single value such as a mean).
    """
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    if a.shape != e.shape:
        return Cell(False, error=f"shape {a.shape}, expected {e.shape}")
    absolute = np.asarray(atol, dtype=np.float64)
    if absolute.shape != e.shape:
        absolute = np.full(e.shape, absolute.max() if absolute.size else 0.0)
    both = np.isfinite(a) & np.isfinite(e)
    with np.errstate(invalid="ignore"):
        same = (a == e) | (np.isnan(a) & np.isnan(e))
    nonfinite = int(np.sum(~both & ~same))
    diff = np.abs(a[both] - e[both])
    allowed = tol * (1 + np.abs(e[both])) + absolute[both]
    nonzero = e[both] != 0
    if nonfinite:
        max_abs = max_rel = used = math.inf
    else:
        max_abs = float(diff.max()) if diff.size else 0.0
        rel = diff[nonzero] / np.abs(e[both][nonzero])
        max_rel = float(rel.max()) if rel.size else 0.0
        used = float((diff / allowed).max()) if diff.size else 0.0
    ok = nonfinite == 0 and bool(np.all(diff <= allowed))
    return Cell(ok, max_abs, max_rel, used=used, nonfinite=nonfinite)


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
    # Frameworks' own functions left out although their backend ran: module -> why.
    natives_left_out: dict[str, str] = field(default_factory=dict)

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
            out: dict[str, Any] = {"ok": c.ok, "max_abs": _number(c.max_abs)}
            out["max_rel"] = _number(c.max_rel)
            out["allowance_used"] = _number(c.used)
            if c.nonfinite:
                out["nonfinite"] = c.nonfinite
            if c.error:
                out["error"] = c.error
            return out

        return {
            "backends": self.backends,
            "missing": self.missing,
            "versions": self.versions,
            "dtype": self.dtype,
            "problems": self.problems,
            "natives_left_out": self.natives_left_out,
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


def _number(x: float) -> float | str | None:
    """``x`` for strict JSON, which has no nan or infinity: None for nan (not measured: an
    error), the strings ``"inf"`` and ``"-inf"`` for the infinities."""
    if math.isnan(x):
        return None
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


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
    expected = case.reference(*inputs, compute_dtype=compute)
    return compare(result, expected, tolerance(dtype), input_term(case, inputs, compute))


def run_native(case: Case, native: Any) -> Cell:
    try:
        result = native.compute(*case.inputs)
        result = result.detach().numpy() if hasattr(result, "detach") else np.asarray(result)
    except Exception as error:
        return Cell(False, error=f"{type(error).__name__}: {error}"[:200])
    expected = case.reference(*case.inputs, compute_dtype=NATIVE_DTYPE)
    atol = input_term(case, case.inputs, NATIVE_DTYPE)
    return compare(result, expected, tolerance(NATIVE_DTYPE), atol)


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
    dtype = dtype_name(dtype)
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
    dtype: Any = "float32",
    progress: Callable[[str], None] | None = None,
) -> Report:
    """Run every case on each backend (default: every installed one) in ``dtype``.

    Args:
        backends: names among numpy, jax, torch, tensorflow, array_api_strict. A name asked for
            that is not installed (or fails to import) makes the report fail (``report.ok`` is
            False, with the reason and the install command in ``report.problems``); by
            default, backends that are not installed are listed in ``report.missing`` only.
            A framework's own functions run with their backend only (optax's count as JAX's,
            Keras's as TensorFlow's): with names given, those of the named ones; by default,
            those of every backend that is installed and imports. Those left out although
            their backend ran (optax not installed, Keras set to another backend) are listed,
            with why, in ``report.natives_left_out``; they do not fail the report.
        dtype: float16, bfloat16, float32 or float64 (or ``"f8"``, ``np.float64``, ...: what
            `tolerance` accepts). By default, the installed backends lacking it are left out;
            a report that runs no backend at all fails. The frameworks' own functions run in
            float32 (``NATIVE_DTYPE``) whatever ``dtype`` is.
        progress: called with a line of text as the run goes on.

    Returns:
        A `Report`; ``report.ok`` is True when every comparison passed, on at least one
        backend, and every backend asked for ran.

    Raises:
        ValueError: an unknown backend name (the known ones are in the message), an unknown
            dtype, or a backend asked for by name that has no such dtype.
    """
    dtype = dtype_name(dtype)
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
    results, left_out = [], {}
    for number, case in enumerate(CASES, start=1):
        if progress:
            progress(f"[{number}/{len(CASES)}] {case.name}")
        result = CaseResult(case.name)
        for name in chosen:
            context = _x64(name) if dtype == "float64" else contextlib.nullcontext()
            with context:
                result.cells[name] = run_case(case, frameworks[name], dtype)
        for native in case.natives:
            if _native_wanted(native, frameworks):
                result.natives[native.label] = run_native(case, native)
            elif (why := _left_out_because(native, frameworks)) is not None:
                left_out[native.requires] = why
        results.append(result)
    versions = {b: frameworks[b].version for b in frameworks}
    return Report(chosen, missing, versions, dtype, results, problems, left_out)


def _left_out_because(native: Native, loaded: dict[str, _frameworks.Framework]) -> str | None:
    """Why a framework's own function is left out although its backend ran (None where the
    backend did not: the backend is reported missing or failing then)."""
    if NATIVE_BACKEND.get(native.requires, native.requires) not in loaded:
        return None
    if not _frameworks.installed(native.requires):
        return f"{native.requires} is not installed (install with: pip install {native.requires})"
    backend = _keras_backend()
    return (
        f"keras runs on {backend} (KERAS_BACKEND or keras.json), and the cases hold "
        "Keras-on-TensorFlow's answers; run with KERAS_BACKEND=tensorflow to compare it"
    )


def _native_wanted(native: Native, loaded: dict[str, _frameworks.Framework]) -> bool:
    """Whether a framework's own function runs: its backend (optax's is JAX, Keras's is
    TensorFlow: `NATIVE_BACKEND`) ran its import in this run (it is installed, imports, and was
    asked for, by name or by default), and the module it needs is installed. The others are
    not even imported: Keras without TensorFlow, or optax with a broken JAX, is left out. So
    are Keras's functions when Keras is set to run on another backend (``KERAS_BACKEND``):
    the cases list what Keras computes on TensorFlow, and on JAX, say, a ``-inf``-masked
    logit gives ``nan`` where Keras on TensorFlow gives the loss."""
    backend = NATIVE_BACKEND.get(native.requires, native.requires)
    if native.requires == "keras" and _keras_backend() != "tensorflow":
        return False
    return backend in loaded and _frameworks.installed(native.requires)


def _keras_backend() -> str:
    """The backend Keras runs on, read as Keras reads it, without importing Keras where it is
    not imported yet: ``KERAS_BACKEND``, else ``keras.json``'s ``"backend"`` (in
    ``$KERAS_HOME``, or ``~/.keras``), else TensorFlow."""
    keras = sys.modules.get("keras")
    if keras is not None:
        return str(keras.backend.backend())
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    try:
        with open(os.path.join(home, "keras.json")) as config:
            return str(json.load(config).get("backend", "tensorflow"))
    except (OSError, ValueError, AttributeError):
        return "tensorflow"


def _x64(name: str) -> Any:
    if name == "jax":
        import jax

        return jax.enable_x64(True)
    return contextlib.nullcontext()


@dataclass
class CheckResult:
    """What `check` found: ``ok`` and one row per case. ``extensions`` names the cases whose
    answer is xloss's own, where the frameworks differ (`Case.extension`: why): shown, and not
    counted in ``ok`` (a port of Keras's or torch's loss gives their answer there)."""

    ok: bool
    backend: str
    rows: list[tuple[str, Cell]]
    extensions: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        width = max(len(name) for name, _ in self.rows)
        lines = [f"{'case':<{width}}  result (vs xloss's float64 reference, on {self.backend})"]
        for name, cell in self.rows:
            note = self.extensions.get(name)
            extra = f" (not counted: xloss's own answer here: {note})" if note else ""
            lines.append(f"{name:<{width}}  {cell.describe()}{extra}")
        every = all(cell.ok for _, cell in self.rows)
        lines.append("all cases agree" if every else "all counted cases agree" if self.ok else
                     "some cases differ")  # fmt: skip
        return "\n".join(lines)


KINDS = ("categorical", "sparse", "binary")
# The options `check` reads for each kind, with their defaults: those the kind's reference (and
# Keras's function of that name) takes.
CHECK_OPTIONS: dict[str, dict[str, Any]] = {
    "categorical": {"from_logits": False, "label_smoothing": 0.0, "axis": -1},
    "sparse": {"from_logits": False, "ignore_class": None, "axis": -1},
    "binary": {"from_logits": False, "label_smoothing": 0.0, "axis": -1},
}


def check(
    fn: Callable[[Any, Any], Any], kind: str, backend: str = "numpy", **loss_kwargs: Any
) -> CheckResult:
    """Run the case library against your own loss ``fn(y_true, y_pred)``.

    ``kind`` is ``"categorical"``, ``"sparse"`` or ``"binary"``; ``loss_kwargs`` say what ``fn``
    computes in xloss's (Keras's) terms: ``from_logits`` (True or False, default False) and
    ``axis`` (the class axis of ``y_pred``, default -1) for every kind, ``label_smoothing``
    (categorical and binary) and ``ignore_class`` (sparse). The cases whose inputs suit those
    options run: those from logits or from probabilities, whose class axis is ``axis`` (``-1``
    and ``1`` are the same axis of a 2-D ``y_pred``; ``1`` and ``-2`` of the 3-D one), with
    ignored labels when ``ignore_class`` is set (any integer: the case's ignored labels are set
    to it).

    ``fn`` gets the backend's arrays and may return one loss per sample (a backend or NumPy
    array) or a single value (a 0-d array, or a Python or NumPy number): the mean of the
    per-sample losses, over the non-ignored ones under ``ignore_class`` (Keras's and torch's
    ``"mean"``). Each result is judged as `run` judges the cells of ``xloss report``: nan and
    infinities where the reference has them, and within the tolerance elsewhere.

    Raises:
        TypeError: ``fn`` is not callable, an unknown option (or one of another kind), or an
            option of the wrong type.
        ValueError: an unknown ``kind`` or backend, a backend that is not installed, a
            ``label_smoothing`` outside [0, 1], or options that no case matches (the message
            lists those the case library has).

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
    if kind not in KINDS:
        raise ValueError(f"`kind` must be 'categorical', 'sparse' or 'binary'; received {kind!r}.")
    if not callable(fn):
        raise TypeError(
            f"`fn` must be your loss function, called as fn(y_true, y_pred); received {fn!r}."
        )
    options = _check_options(kind, loss_kwargs)
    if not _frameworks.installed(known(backend)):
        raise ValueError(
            f"backend {backend!r} is not installed; install it with: "
            f"{_frameworks.INSTALL_HINT[backend]}"
        )
    cases = [case for case in CASES if _case_matches(case, kind, options)]
    if not cases:
        have = "; ".join(sorted({_case_options(c) for c in CASES if c.kind == kind}))
        raise ValueError(
            f"no case of kind {kind!r} matches the options {options}; the case library has "
            f"{kind} cases for: {have}."
        )
    framework = _frameworks.load(backend)
    from xloss.conformance import _reference as ref

    references: dict[str, Callable[..., Any]] = {
        "categorical": ref.categorical,
        "sparse": ref.sparse_categorical,
        "binary": ref.binary,
    }
    reference = references[kind]
    ignore_class = options.get("ignore_class")
    rows = []
    for case in cases:
        y_true, y_pred = case.inputs
        if ignore_class is not None:  # the case's ignored label, as the one asked for
            y_true = np.where(y_true == case.loss_kwargs["ignore_class"], ignore_class, y_true)
        try:
            result = _result_numpy(
                framework, fn(framework.from_numpy(y_true), framework.from_numpy(y_pred))
            )
        except Exception as error:
            rows.append((case.name, Cell(False, error=f"{type(error).__name__}: {error}"[:200])))
            continue
        dtype = dtype_name(y_pred.dtype)
        compute = "float64" if dtype == "float64" else "float32"
        expected = reference(y_true, y_pred, **options, compute_dtype=compute)
        if result.ndim == 0:  # Keras's "sum_over_batch_size": over the valid ones
            valid = None if ignore_class is None else y_true != ignore_class
            expected = np.asarray(ref.reduce(expected, valid=valid))
        atol = input_term(case, (y_true, y_pred), compute)
        rows.append((case.name, compare(result, expected, tolerance(dtype), atol)))
    extensions = {case.name: case.extension for case in cases if case.extension}
    counted = [cell.ok for name, cell in rows if name not in extensions]
    return CheckResult(all(counted), backend, rows, extensions)


def _check_options(kind: str, loss_kwargs: dict[str, Any]) -> dict[str, Any]:
    """`check`'s options for ``kind``, checked, with the defaults filled in; a TypeError or a
    ValueError names the option, the value received and what to do."""
    allowed = CHECK_OPTIONS[kind]
    names = ", ".join(allowed)
    for name in loss_kwargs:
        if name in allowed:
            continue
        kinds = [repr(k) for k, o in CHECK_OPTIONS.items() if name in o]
        if kinds:
            raise TypeError(
                f"`{name}` is not an option of kind={kind!r} (only of kind {' and '.join(kinds)});"
                f" the options of kind={kind!r} are {names}."
            )
        if name in ("reduction", "sample_weight"):
            hint = " (check compares per-sample losses or their mean: return either from fn)"
        else:
            close = difflib.get_close_matches(name, allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise TypeError(
            f"check() got an unknown option {name!r}{hint}; the options of kind={kind!r} are "
            f"{names}."
        )
    options = {**allowed, **loss_kwargs}
    from_logits = options["from_logits"]
    if not isinstance(from_logits, (bool, np.bool_)):
        raise TypeError(
            f"`from_logits` must be True or False; received {from_logits!r} "
            f"({type(from_logits).__name__})."
        )
    options["from_logits"] = bool(from_logits)
    axis = options["axis"]
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, (int, np.integer)):
        raise TypeError(
            f"`axis` must be an integer, the class axis of y_pred (-1, or 1 for PyTorch's "
            f"(N, C, ...) layout); received {axis!r}."
        )
    options["axis"] = int(axis)
    if "label_smoothing" in options:
        smoothing = options["label_smoothing"]
        if isinstance(smoothing, (bool, np.bool_)) or not isinstance(
            smoothing, (int, float, np.integer, np.floating)
        ):
            raise TypeError(f"`label_smoothing` must be a number; received {smoothing!r}.")
        if not 0 <= smoothing <= 1:
            raise ValueError(f"`label_smoothing` must be in [0, 1]; received {smoothing!r}.")
        options["label_smoothing"] = float(smoothing)
    if "ignore_class" in options:
        ignore = options["ignore_class"]
        if ignore is not None and (
            isinstance(ignore, (bool, np.bool_)) or not isinstance(ignore, (int, np.integer))
        ):
            raise TypeError(
                f"`ignore_class` must be an integer label or None; received {ignore!r}."
            )
        options["ignore_class"] = None if ignore is None else int(ignore)
    return options


def _case_matches(case: Case, kind: str, options: dict[str, Any]) -> bool:
    """Whether ``case`` suits `check`'s ``options``: the same kind and ``from_logits``, the same
    class axis of its ``y_pred`` (``-1`` and ``1`` are one axis in 2-D), and ignored labels
    exactly when ``ignore_class`` is set."""
    if case.kind != kind:
        return False
    ndim = np.ndim(case.inputs[1])
    axis = options["axis"]
    return (
        bool(case.loss_kwargs.get("from_logits", False)) == options["from_logits"]
        and (case.loss_kwargs.get("ignore_class") is None) == (options.get("ignore_class") is None)
        and -ndim <= axis < ndim
        and axis % ndim == case.loss_kwargs.get("axis", -1) % ndim
    )


def _case_options(case: Case) -> str:
    """What `check` needs to run ``case``, in words (for the message of no match)."""
    ndim = np.ndim(case.inputs[1])
    axis = case.loss_kwargs.get("axis", -1) % ndim
    text = f"from_logits={bool(case.loss_kwargs.get('from_logits', False))}, axis={axis}"
    text += f" (or {axis - ndim}) of a {ndim}-D y_pred"
    return text + (", ignore_class set" if case.loss_kwargs.get("ignore_class") is not None else "")


def _result_numpy(framework: _frameworks.Framework, result: Any) -> np.ndarray:
    """What ``fn`` returned, as a NumPy array: a Python or NumPy number or a NumPy array as it
    is, a backend array through the backend."""
    if isinstance(result, (int, float, np.generic, np.ndarray)):
        return np.asarray(result)
    return np.asarray(framework.to_numpy(result))
