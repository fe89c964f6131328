"""``xloss.diagnose``: look at ``y_pred`` and say whether ``from_logits`` matches it.

The loss functions' `FromLogitsWarning` is a cheap hint on the first rows of each call. This is
the full doctor, for when you ask: it reads the values (on the host, in float64), decides what
``y_pred`` looks like (logits, probabilities, log-probabilities, binary probabilities, ...),
names the mistake if there is one, and writes the corrected line of code for your framework.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from typing import Any

from xloss._checks import is_marked, sum_tolerance
from xloss._dispatch import Namespace, _is_value, as_array, resolve
from xloss._validation import check_from_logits, is_kind, normalize_axis

MAX_VALUES = 1_000_000
"""``diagnose`` reads the first rows of ``y_pred`` up to this many values (at least one row)."""

KINDS = ("sparse", "categorical", "binary")
FRAMEWORKS = ("keras", "torch", "optax", "tensorflow", "xloss")
# The framework whose code line a report gives, from the array type (`framework=` overrides).
_DEFAULT_FRAMEWORK = {"torch": "torch", "jax": "optax", "tensorflow": "keras"}


@dataclass(frozen=True)
class Evidence:
    """What `diagnose` measured on the rows of ``y_pred`` it read.

    A *row* is one sample's values along the class axis. NaN values are left out of ``min`` and
    ``max``; rows holding NaN or an infinity are left out of the row statistics.

    Attributes:
        rows: rows read (the first ones, up to `MAX_VALUES` values).
        rows_total: rows in ``y_pred``.
        classes: ``y_pred.shape[axis]``.
        min: the smallest value read (``None`` if every value is NaN).
        max: the largest value read (``None`` if every value is NaN).
        nan: NaN values read.
        posinf: ``+inf`` values read.
        neginf: ``-inf`` values read.
        row_sum_min: the smallest row sum along the class axis (``None`` for the binary loss
            or when no row is finite).
        row_sum_max: the largest row sum.
        rows_summing_to_one: the fraction of finite rows whose sum is within ``tolerance``
            of 1.
        all_nonpositive: every value read is ``<= 0``, as log-probabilities are.
        rows_logsumexp_zero: the fraction of finite rows whose logsumexp is within
            ``tolerance`` of 0, as log-probabilities' is.
        keras_marker: ``y_pred`` carries Keras's ``_keras_logits`` attribute: it is the output
            of a Keras softmax or sigmoid activation (Keras's TensorFlow backend sets it).
        tolerance: how close to 1 (or 0) a sum counts as equal: ``max(1e-3, 8 * eps)`` of
            ``y_pred``'s dtype.

    Examples:
        >>> import numpy as np, xloss
        >>> report = xloss.diagnose([0, 1], np.array([[0.9, 0.1], [0.2, 0.8]]))
        >>> report.evidence.rows, report.evidence.rows_summing_to_one
        (2, 1.0)
    """

    rows: int
    rows_total: int
    classes: int
    min: float | None
    max: float | None
    nan: int
    posinf: int
    neginf: int
    row_sum_min: float | None
    row_sum_max: float | None
    rows_summing_to_one: float | None
    all_nonpositive: bool
    rows_logsumexp_zero: float | None
    keras_marker: bool
    tolerance: float


@dataclass(frozen=True)
class Diagnosis:
    """The report `diagnose` returns; ``str(report)`` is a readable multi-line text.

    Attributes:
        looks_like: what ``y_pred`` looks like: ``"logits"``, ``"probabilities"``,
            ``"log-probabilities"``, ``"binary probabilities"``, ``"unnormalised
            probabilities"`` (values in ``[0, 1]`` whose rows do not sum to 1),
            ``"constant"`` (every value equal: cannot tell) or ``"not a number"`` (all NaN).
        ok: ``True`` when ``from_logits`` matches ``y_pred`` and nothing makes the loss NaN.
        mistake: ``None``, or what is wrong, in a few sentences.
        fix: what to do (or why nothing needs doing).
        code: the corrected line of code in ``framework``'s own API.
        xloss_code: the same loss with xloss (any backend).
        framework: whose API ``code`` uses: ``"keras"``, ``"torch"``, ``"optax"``,
            ``"tensorflow"`` or ``"xloss"``.
        kind: the loss: ``"sparse"``, ``"categorical"`` or ``"binary"``.
        kind_reason: how ``kind`` was chosen.
        from_logits: the flag that was checked.
        backend: the array library of ``y_pred``.
        evidence: the measurements behind the verdict.
        notes: further remarks (``-inf`` masks, redundant softmax, ...).

    Examples:
        >>> import numpy as np, xloss
        >>> report = xloss.diagnose([0], np.array([[3.0, -1.0, 0.5]]), from_logits=True)
        >>> report.ok, report.looks_like
        (True, 'logits')
    """

    looks_like: str
    ok: bool
    mistake: str | None
    fix: str
    code: str
    xloss_code: str
    framework: str
    kind: str
    kind_reason: str
    from_logits: bool
    backend: str
    evidence: Evidence
    notes: tuple[str, ...] = field(default=())

    def __str__(self) -> str:
        e = self.evidence
        verdict = "OK" if self.ok else "MISTAKE"
        looks = {
            "not a number": "is all NaN",
            "constant": "is constant (cannot tell logits from probabilities)",
        }.get(self.looks_like, f"looks like {self.looks_like}")
        lines = [
            f"xloss.diagnose: {verdict}: y_pred {looks}; from_logits={self.from_logits}.",
            f"  loss kind:  {self.kind} ({self.kind_reason})",
            f"  read:       {e.rows} of {e.rows_total} row{'s' * (e.rows_total != 1)}, "
            f"{e.classes} class{'es' * (e.classes != 1)} ({self.backend} array)",
            f"  values:     min {_num(e.min)}, max {_num(e.max)}; NaN {e.nan}, "
            f"+inf {e.posinf}, -inf {e.neginf}",
        ]
        if e.rows_summing_to_one is not None:
            lines.append(
                f"  row sums:   from {_num(e.row_sum_min)} to {_num(e.row_sum_max)}; "
                f"{e.rows_summing_to_one:.0%} of finite rows sum to 1"
            )
        if e.rows_logsumexp_zero is not None and e.all_nonpositive:
            lines.append(
                f"  log-probs:  every value <= 0; {e.rows_logsumexp_zero:.0%} of finite rows "
                f"have logsumexp 0"
            )
        if e.keras_marker:
            lines.append("  marker:     carries Keras's _keras_logits (softmax/sigmoid output)")
        if self.mistake:
            lines.append(f"Mistake: {self.mistake}")
        lines.append(f"Fix: {self.fix}")
        lines.append(f"Code ({self.framework}): {self.code}")
        if self.framework != "xloss":
            lines.append(f"xloss: {self.xloss_code}")
        lines.extend(f"Note: {note}" for note in self.notes)
        return "\n".join(lines)


def diagnose(
    y_true: Any,
    y_pred: Any,
    from_logits: bool = False,
    *,
    axis: int = -1,
    kind: str | None = None,
    framework: str | None = None,
) -> Diagnosis:
    """Check whether ``from_logits`` matches what ``y_pred`` holds, and say how to fix it.

    Pass the arguments you pass to the loss. ``diagnose`` reads the values of the first rows of
    ``y_pred`` (a row is one sample's values along ``axis``), up to `MAX_VALUES` values and
    at least one row, and decides what they look like:

    - **probabilities**: every value in ``[0, 1]`` and every row sums to 1 (softmax output);
    - **log-probabilities**: every value ``<= 0`` and every row's logsumexp is 0
      (``log_softmax`` output); as logits they give the right loss;
    - **binary probabilities** (binary loss): every value in ``[0, 1]`` (sigmoid output);
    - **unnormalised probabilities**: values in ``[0, 1]`` whose rows do not sum to 1
      (sigmoid outputs, or a softmax along another axis);
    - **logits** otherwise; **constant** when every value is equal (cannot tell);
      **not a number** when every value is NaN.

    A ``y_pred`` carrying Keras's ``_keras_logits`` marker is softmax/sigmoid output whatever
    its values. Unlike the loss's `FromLogitsWarning`, ``diagnose`` always runs (also under
    ``xloss.value_checks(False)``) and reads arrays in accelerator memory too: it copies the
    rows it reads to the host, which synchronises the device. It cannot read traced values.

    Args:
        y_true: the targets you pass to the loss: integer labels (sparse), one-hot or soft
            targets (categorical), or 0/1 targets (binary). Only its dtype and shape are used,
            and, when it has ``y_pred``'s shape, its first rows. It may be another library's
            array (NumPy labels with TensorFlow predictions, as Keras accepts).
        y_pred: the predictions you pass to the loss.
        from_logits: the flag you pass to the loss (default ``False``, as Keras's).
        axis: the class axis (``-1``; PyTorch's layout is ``1``).
        kind: ``"sparse"``, ``"categorical"`` or ``"binary"``; by default inferred: one class
            is binary; ``y_true`` with one dimension fewer than ``y_pred`` (or size 1 on
            ``axis``) is sparse; targets of ``y_pred``'s shape are categorical when each row
            sums to 1, else binary (multi-label).
        framework: whose API the ``code`` line uses: ``"keras"``, ``"torch"``, ``"optax"``,
            ``"tensorflow"`` or ``"xloss"``; by default chosen from the array type: PyTorch
            tensors get ``"torch"``, JAX arrays ``"optax"``, TensorFlow tensors ``"keras"``,
            anything else ``"xloss"``.

    Returns:
        A `Diagnosis`; print it for the text report.

    Raises:
        TypeError: ``y_pred`` or ``y_true`` is traced (inside ``jax.jit``, ``tf.function``,
            ``torch.compile`` or ``torch.func`` transforms): call ``diagnose`` outside, on
            concrete arrays. (``torch.compile(fullgraph=True)`` reports it inside its own
            ``Unsupported`` error; without ``fullgraph`` it runs ``diagnose`` eagerly, where
            the values exist.) Also for a non-floating ``y_pred``, a missing argument or a
            bad argument type.
        ValueError: an unknown ``kind`` or ``framework``, an ``axis`` out of range, or an
            empty ``y_pred``.

    Examples:
        Logits passed with the default ``from_logits=False``:

        >>> import numpy as np, xloss
        >>> logits = np.array([[2.0, -1.0, 0.5], [0.0, 3.0, -2.5]])
        >>> report = xloss.diagnose([0, 1], logits)
        >>> report.ok, report.looks_like, report.kind
        (False, 'logits', 'sparse')
        >>> print(report.code)
        xloss.sparse_categorical_crossentropy(labels, logits, from_logits=True)
        >>> print(report)  # doctest: +ELLIPSIS
        xloss.diagnose: MISTAKE: y_pred looks like logits; from_logits=False.
          loss kind:  sparse (inferred: y_true has one dimension fewer than y_pred)
          read:       2 of 2 rows, 3 classes (numpy array)
          values:     min -2.5, max 3; NaN 0, +inf 0, -inf 0
          row sums:   from 0.5 to 1.5; 0% of finite rows sum to 1
        Mistake: y_pred looks like logits (values from -2.5 to 3, outside [0, 1]), ...
        Fix: Pass from_logits=True: the loss then applies a stable log-softmax itself. ...
        Code (xloss): xloss.sparse_categorical_crossentropy(labels, logits, from_logits=True)

        The code line in another framework's API:

        >>> print(xloss.diagnose([0, 1], logits, framework="torch").code)
        torch.nn.functional.cross_entropy(logits, target)
    """
    from_logits = check_from_logits(from_logits)
    if kind is not None and kind not in KINDS:
        raise ValueError(f"`kind` must be None or one of {KINDS}; received {kind!r}.")
    if framework is not None and framework not in FRAMEWORKS:
        raise ValueError(
            f"`framework` must be None or one of {FRAMEWORKS}; received {framework!r}."
        )
    if y_true is None or y_pred is None:
        missing = "y_true" if y_true is None else "y_pred"
        raise TypeError(
            f"`{missing}` must be an array, a Python number or a list; received None. Pass "
            f"the same y_true and y_pred you pass to the loss."
        )
    ns = resolve(y_pred=y_pred)
    xp, name = ns.xp, ns.backend.name
    _refuse_traced(name, y_pred, "y_pred")
    # y_true may be another library's array (NumPy labels with TensorFlow predictions, as
    # Keras accepts): it is read with its own namespace.
    true_ns = ns if _is_value(y_true) else resolve(y_true=y_true)
    _refuse_traced(true_ns.backend.name, y_true, "y_true")
    keras_marker = is_marked(y_pred)
    pred = as_array(y_pred, ns, floating=True, name="y_pred")
    if not is_kind(xp, pred.dtype, "real floating"):
        raise TypeError(
            f"`y_pred` must be a real floating-point array; received dtype {pred.dtype}. "
            f"Scores and probabilities are real numbers: cast it first."
        )
    true = as_array(y_true, true_ns, name="y_true")
    ndim = pred.ndim
    axis_index = normalize_axis(axis, ndim)
    classes = int(pred.shape[axis_index])
    size = math.prod(int(n) for n in pred.shape)
    if size == 0:
        raise ValueError(f"`y_pred` is empty (shape {tuple(pred.shape)}): nothing to diagnose.")
    rows_total = size // classes
    rows = min(rows_total, max(1, MAX_VALUES // classes))
    values = _host_rows(name, xp, pred, axis_index, rows)
    tolerance = sum_tolerance(xp, pred.dtype)

    if kind is None:
        kind, kind_reason = _infer_kind(true_ns, true, pred, axis_index, rows, tolerance)
    else:
        kind_reason = "given"
    evidence = _measure(values, kind, keras_marker, rows_total, tolerance)
    looks_like = _looks_like(evidence, kind)
    if framework is None:
        framework = _DEFAULT_FRAMEWORK.get(name, "xloss")
    dense = kind != "sparse"
    line = _Line(
        kind,
        axis,
        axis_index,
        ndim,
        squeeze_labels=not dense and true.ndim == ndim and int(true.shape[axis_index]) == 1,
        expand_targets=dense and true.ndim + 1 == ndim and int(pred.shape[-1]) == 1,
        cast_targets=dense and not is_kind(true_ns.xp, true.dtype, "real floating"),
        long_labels=not dense and getattr(true.dtype, "itemsize", 8) != 8,
    )
    verdict = _judge(looks_like, from_logits, kind, evidence, values, rows == rows_total, ndim)
    use = "logits-instead" if verdict.wrong_axis else _what_to_pass(looks_like, from_logits)
    code = _nan_code(framework) if looks_like == "not a number" else line.code(framework, use)
    return Diagnosis(
        looks_like=looks_like,
        ok=verdict.ok,
        mistake=verdict.mistake,
        fix=verdict.fix,
        code=code,
        xloss_code=line.code("xloss", use),
        framework=framework,
        kind=kind,
        kind_reason=kind_reason,
        from_logits=from_logits,
        backend=name,
        evidence=evidence,
        notes=verdict.notes,
    )


# --- reading values ---------------------------------------------------------------------------


def _refuse_traced(name: str, x: Any, argument: str) -> None:
    """A ``TypeError`` for traced arrays: their values do not exist yet."""
    if _is_value(x):
        return
    traced = False
    if name == "jax":
        traced = isinstance(x, sys.modules["jax"].core.Tracer)
    elif name == "torch":
        torch = sys.modules["torch"]
        wrapped = getattr(torch._C._functorch, "is_functorch_wrapped_tensor", None)
        traced = (
            torch.compiler.is_compiling()
            or x.device.type == "meta"
            or (wrapped is not None and wrapped(x))
        )
    elif name == "tensorflow":
        tf = sys.modules["tensorflow"]
        traced = not tf.executing_eagerly() or tf.is_symbolic_tensor(x)
    if traced:
        raise TypeError(
            f"xloss.diagnose reads the values of `{argument}`, but it received a traced "
            f"{type(x).__module__}.{type(x).__qualname__} (inside jax.jit, tf.function, "
            f"torch.compile or a torch.func transform), which has no values yet. Call "
            f"diagnose outside the compiled function, on the concrete arrays you pass to it."
        )


def _host_rows(name: str, xp: Any, x: Any, axis: int, rows: int) -> Any:
    """The first ``rows`` rows of ``x`` (class axis last) as a float64 NumPy array."""
    import numpy as np

    if name == "torch":
        x = x.detach()
    if x.ndim == 1:
        x = xp.reshape(x, (1, x.shape[0]))
    else:
        if axis != x.ndim - 1:
            x = xp.moveaxis(x, axis, -1)
        x = xp.reshape(x, (-1, x.shape[-1]))
    x = x[:rows, ...]
    if x.dtype not in (xp.float32, xp.float64):  # float16, bfloat16: NumPy may lack them
        x = xp.astype(x, xp.float32)
    return _to_numpy(name, x).astype(np.float64)


def _to_numpy(name: str, x: Any) -> Any:
    """``x`` copied to host memory (from an accelerator too: ``diagnose`` was asked for)."""
    import numpy as np

    if name == "torch":
        return x.cpu().numpy()
    if name == "tensorflow":
        return x.numpy()
    if name in ("numpy", "jax"):
        return np.asarray(x)
    if hasattr(x, "__dlpack__"):  # host memory; other devices refuse and go on below
        try:
            return np.from_dlpack(x)
        except (TypeError, BufferError, RuntimeError, ValueError):
            pass
    try:
        return np.asarray(x)  # lazy arrays (Dask) compute here
    except (TypeError, ValueError, RuntimeError) as error:
        raise TypeError(
            f"xloss.diagnose cannot copy a {type(x).__module__}.{type(x).__qualname__} to "
            f"host memory (neither DLPack nor numpy.asarray works): convert it to NumPy and "
            f"call diagnose on that."
        ) from error


def _infer_kind(
    ns: Namespace, y_true: Any, y_pred: Any, axis: int, rows: int, tolerance: float
) -> tuple[str, str]:
    import numpy as np

    classes = y_pred.shape[axis]
    if classes == 1:
        return "binary", "inferred: y_pred has one class"
    if y_true.ndim + 1 == y_pred.ndim:
        return "sparse", "inferred: y_true has one dimension fewer than y_pred"
    if y_true.ndim == y_pred.ndim and y_true.shape[axis] == 1:
        return "sparse", f"inferred: y_true has size 1 along axis {axis}"
    if tuple(y_true.shape) == tuple(y_pred.shape):
        sums = _host_rows(ns.backend.name, ns.xp, y_true, axis, rows).sum(axis=-1)
        if np.all(np.abs(sums - 1.0) <= tolerance):
            return "categorical", "inferred: y_true has y_pred's shape and its rows sum to 1"
        return "binary", "inferred: y_true has y_pred's shape and its rows do not sum to 1"
    return "categorical", (
        f"guessed: y_true's shape {tuple(y_true.shape)} fits no loss for y_pred's "
        f"{tuple(y_pred.shape)}; pass kind= to say which loss"
    )


# --- measuring and judging --------------------------------------------------------------------


def _measure(
    values: Any, kind: str, keras_marker: bool, rows_total: int, tolerance: float
) -> Evidence:
    import numpy as np

    nan = np.isnan(values)
    present = values[~nan]
    finite_rows = values[np.isfinite(values).all(axis=-1)]
    row_stats = kind != "binary" and finite_rows.shape[0] > 0
    sums = lse = finite_rows.sum(axis=-1)
    if row_stats:
        top = finite_rows.max(axis=-1, keepdims=True)
        lse = (top + np.log(np.exp(finite_rows - top).sum(axis=-1, keepdims=True)))[..., 0]
    return Evidence(
        rows=int(values.shape[0]),
        rows_total=rows_total,
        classes=int(values.shape[-1]),
        min=float(present.min()) if present.size else None,
        max=float(present.max()) if present.size else None,
        nan=int(nan.sum()),
        posinf=int(np.isposinf(values).sum()),
        neginf=int(np.isneginf(values).sum()),
        row_sum_min=float(sums.min()) if row_stats else None,
        row_sum_max=float(sums.max()) if row_stats else None,
        rows_summing_to_one=float(np.mean(np.abs(sums - 1.0) <= tolerance)) if row_stats else None,
        all_nonpositive=bool(present.size and present.max() <= 0.0),
        rows_logsumexp_zero=float(np.mean(np.abs(lse) <= tolerance)) if row_stats else None,
        keras_marker=keras_marker,
        tolerance=tolerance,
    )


def _looks_like(e: Evidence, kind: str) -> str:
    if e.min is None or e.max is None:
        return "not a number"
    binary = kind == "binary"
    if e.keras_marker:
        return "binary probabilities" if binary else "probabilities"
    if e.min == e.max:
        return "constant"
    if e.min >= 0.0 and e.max <= 1.0:
        if binary:
            return "binary probabilities"
        return "probabilities" if e.rows_summing_to_one == 1.0 else "unnormalised probabilities"
    if not binary and e.all_nonpositive and e.rows_logsumexp_zero == 1.0:
        return "log-probabilities"
    return "logits"


@dataclass(frozen=True)
class _Verdict:
    ok: bool
    mistake: str | None
    fix: str
    notes: tuple[str, ...]
    wrong_axis: bool = False


def _judge(
    looks_like: str,
    from_logits: bool,
    kind: str,
    e: Evidence,
    values: Any,
    whole: bool,
    ndim: int,
) -> _Verdict:
    """The mistake (if any), the fix and the notes for what ``y_pred`` looks like."""
    act = "sigmoid" if kind == "binary" else "softmax"
    mistakes: list[str] = []
    fixes: list[str] = []
    notes: list[str] = []
    values_range = f"values from {_num(e.min)} to {_num(e.max)}"
    axis_hint = None
    if looks_like == "not a number":
        mistakes.append(
            f"every value of y_pred read ({e.nan}) is NaN: the loss is NaN whatever "
            f"from_logits says."
        )
        fixes.append(
            "Find where the NaN first appears (the inputs, a too-large learning rate, a log or "
            "division of 0): switch on your framework's NaN check (the code line)."
        )
    elif looks_like == "constant":
        notes.append(
            f"every value read is {_num(e.min)}: logits and probabilities look alike, so the "
            f"flag cannot be judged (an untrained or collapsed model?)."
        )
    elif looks_like == "logits" and not from_logits:
        mistakes.append(
            f"y_pred looks like logits ({values_range}, outside [0, 1]), but from_logits=False: "
            f"the loss treats them as probabilities, "
            + (
                "clips them to [1e-7, 1 - 1e-7]"
                if kind == "binary"
                else "divides each row by its sum and clips to [1e-7, 1 - 1e-7]"
            )
            + ", which gives wrong losses and zero gradients where they are clipped."
        )
        fixes.append(
            f"Pass from_logits=True: the loss then applies a stable log-{act} itself. "
            f"(Or apply {act} first; from logits is more accurate.)"
        )
    elif looks_like in ("probabilities", "binary probabilities") and from_logits:
        why = (
            f"it carries Keras's _keras_logits marker: it is the output of a Keras {act} activation"
            if e.keras_marker
            else (
                "every value in [0, 1], as sigmoid outputs are; logits of a binary classifier "
                "usually spread on both sides of 0"
                if kind == "binary"
                else "every value in [0, 1] and every row summing to 1"
            )
        )
        mistakes.append(
            f"y_pred looks like {looks_like} ({why}), but from_logits=True: the loss applies "
            f"{act} a second time, which squashes the predictions towards uniform and trains "
            f"badly, silently."
        )
        fixes.append(
            f"Drop the final {act} from the model and keep from_logits=True (more stable), or "
            f"pass from_logits=False. PyTorch's, optax's and tf.nn's losses take logits only: "
            f"for them, drop the {act}."
        )
        if e.keras_marker:
            notes.append(
                "Keras's own losses on the TensorFlow backend silently switch to the cached "
                "logits here; on its JAX, torch and NumPy backends, and in xloss, the "
                f"{act} is applied twice."
            )
    elif looks_like == "log-probabilities":
        if from_logits:
            notes.append(
                "y_pred looks like log-probabilities (log_softmax output: every value <= 0 and "
                "every row's logsumexp is 0). As logits they give the right loss, since "
                "log_softmax(log_softmax(x)) = log_softmax(x): fine numerically, the loss's "
                "own log-softmax is just redundant. PyTorch's nll_loss takes them directly."
            )
        else:
            mistakes.append(
                "y_pred looks like log-probabilities (log_softmax output: every value <= 0 and "
                "every row's logsumexp is 0), but from_logits=False: they are not "
                "probabilities. Divided by their (negative) row sum they become a "
                "distribution that ranks the classes backwards, and the loss is wrong."
            )
            fixes.append(
                "Pass from_logits=True (log-probabilities are valid logits), or pass exp(y_pred)."
            )
    elif looks_like == "unnormalised probabilities":
        axis_hint = _summing_axis(values, e.tolerance) if whole and ndim == 2 else None
        if axis_hint is not None:
            mistakes.append(
                "y_pred's values are in [0, 1] and sum to 1 along the other axis (over the "
                "batch), not along the class axis: softmax was applied along the wrong axis."
            )
            fixes.append(
                "Apply softmax along the class axis (dim=-1, or the axis you pass to the loss); "
                "better, drop it and pass from_logits=True."
            )
        elif from_logits:
            mistakes.append(
                f"every value of y_pred is in [0, 1] (row sums from {_num(e.row_sum_min)} to "
                f"{_num(e.row_sum_max)}), as sigmoid outputs or probabilities are, but "
                f"from_logits=True: the loss applies softmax to them."
            )
            fixes.append(
                "If y_pred is a model's sigmoid output, drop the sigmoid and keep "
                "from_logits=True; for independent per-class (multi-label) outputs use a "
                "binary loss (kind='binary')."
            )
        else:
            notes.append(
                f"the rows do not sum to 1 (from {_num(e.row_sum_min)} to "
                f"{_num(e.row_sum_max)}): the loss divides each row by its sum first (Keras's "
                f"rule). For independent per-class (sigmoid) outputs, use the binary loss."
            )
    if e.nan and looks_like != "not a number":
        mistakes.append(
            f"y_pred holds {e.nan} NaN value(s) in the rows read: every sample they touch "
            f"gets a NaN loss, whatever from_logits says."
        )
        fixes.append("Find where the NaN first appears (the inputs, the learning rate).")
    if e.posinf:
        mistakes.append(
            f"y_pred holds {e.posinf} +inf value(s): their samples get a NaN loss "
            f"(inf - inf inside the log-softmax)."
            if looks_like in ("logits", "log-probabilities") and from_logits
            else f"y_pred holds {e.posinf} +inf value(s): no probability or logit is +inf."
        )
        fixes.append("Find where the +inf comes from (an overflow: try float32 over float16).")
    if e.neginf and from_logits and looks_like == "logits":
        notes.append(
            f"y_pred holds {e.neginf} -inf logit(s): masked classes. That is fine as long as "
            f"no target puts weight on them (the loss is then +inf)."
        )
    if not mistakes:
        right = {
            "logits": "holds logits and from_logits=True",
            "probabilities": "holds probabilities and from_logits=False",
            "binary probabilities": "holds probabilities and from_logits=False",
            "log-probabilities": "holds log-probabilities and from_logits=True",
            "unnormalised probabilities": "holds values in [0, 1] and from_logits=False",
            "constant": "cannot be judged (constant values)",
        }[looks_like]
        fix = f"Nothing to fix: y_pred {right}."
        if looks_like in ("probabilities", "binary probabilities"):
            fix += (
                f" Dropping the final {act} and passing from_logits=True is more stable "
                f"(no clipping at 1e-7, no lost digits)."
            )
        return _Verdict(True, None, fix, tuple(notes))
    wrong_axis = looks_like == "unnormalised probabilities" and axis_hint is not None
    return _Verdict(False, " ".join(mistakes), " ".join(fixes), tuple(notes), wrong_axis)


def _summing_axis(values: Any, tolerance: float) -> int | None:
    """0 when the 2-D ``values`` (every row read) sum to 1 down each column, else ``None``."""
    import numpy as np

    if values.shape[0] < 2 or not np.isfinite(values).all():
        return None
    return 0 if bool(np.all(np.abs(values.sum(axis=0) - 1.0) <= tolerance)) else None


def _what_to_pass(looks_like: str, from_logits: bool) -> str:
    """What the corrected call treats ``y_pred`` as: logits, probabilities or log-probs."""
    if looks_like == "log-probabilities":
        return "log-probabilities"
    if looks_like in ("probabilities", "binary probabilities"):
        return "probabilities" if not from_logits else "logits-instead"
    if looks_like == "unnormalised probabilities":
        return "logits-instead" if from_logits else "probabilities"
    if looks_like == "constant":
        return "logits" if from_logits else "probabilities"
    return "logits"


# --- the corrected line of code ---------------------------------------------------------------


@dataclass(frozen=True)
class _Line:
    kind: str
    axis: Any  # as the caller wrote it
    axis_index: int
    ndim: int
    # Target forms Keras and xloss accept but the logits-only APIs do not, and how the line
    # adapts them: sparse labels keeping a size-1 class axis (Keras's (N, 1)) are squeezed;
    # dense targets one dimension short of y_pred's trailing size-1 one (Keras's rank rule)
    # gain it; integer or boolean dense targets are converted to y_pred's dtype; sparse labels
    # narrower than int64 become int64 for torch (its class indices are Long).
    squeeze_labels: bool = False
    expand_targets: bool = False
    cast_targets: bool = False
    long_labels: bool = False

    def code(self, framework: str, use: str) -> str:
        """The loss call in ``framework``'s API for ``y_pred`` treated as ``use``."""
        if use == "logits-instead":
            act = "sigmoid" if self.kind == "binary" else "softmax"
            comment = f"  # logits: the model's output without the final {act}"
            if framework in ("keras", "xloss"):
                return self._keras_like(framework, "logits") + comment
            return self._native(framework, "logits") + comment
        if framework in ("keras", "xloss"):
            return self._keras_like(framework, use)
        return self._native(framework, use)

    def _axis_kw(self) -> str:
        return "" if self.axis_index == self.ndim - 1 else f", axis={self.axis}"

    def _keras_like(self, framework: str, use: str) -> str:
        flag = ", from_logits=True" if use in ("logits", "log-probabilities") else ""
        pred = {"logits": "logits", "log-probabilities": "log_probs"}.get(use, "probs")
        target = "labels" if self.kind == "sparse" else "targets"
        if framework == "keras":
            cls = {
                "sparse": "SparseCategoricalCrossentropy",
                "categorical": "CategoricalCrossentropy",
                "binary": "BinaryCrossentropy",
            }[self.kind]
            options = (flag + self._axis_kw()).lstrip(", ")
            if self.kind == "sparse" and self._axis_kw():
                # Keras's TensorFlow backend takes only axis=-1 here: move the classes last.
                options = flag.lstrip(", ")
                pred = f"keras.ops.moveaxis({pred}, {self.axis}, -1)"
                if self.squeeze_labels:
                    target = f"keras.ops.squeeze({target}, {self.axis})"
            return f"keras.losses.{cls}({options})({target}, {pred})"
        function = {
            "sparse": "sparse_categorical_crossentropy",
            "categorical": "categorical_crossentropy",
            "binary": "binary_crossentropy",
        }[self.kind]
        return f"xloss.{function}({target}, {pred}{flag}{self._axis_kw()})"

    def _native(self, framework: str, use: str) -> str:
        pred = "log_probs" if use == "log-probabilities" else "logits"
        source = "probs" if use == "probabilities" else pred  # the array y_pred stands for
        if use == "probabilities":
            # Logits-only APIs: log(p) is a logit of a softmax (the row renormalised, as Keras
            # does, but not clipped), log(p) - log(1 - p) of a sigmoid.
            log, log1p = {
                "torch": ("torch.log", "torch.log1p"),
                "optax": ("jnp.log", "jnp.log1p"),
                "tensorflow": ("tf.math.log", "tf.math.log1p"),
            }[framework]
            pred = f"{log}(probs)"
            if self.kind == "binary":
                pred = f"{log}(probs) - {log1p}(-probs)"
        last = self.axis_index == self.ndim - 1
        if framework == "torch":
            moved = self.ndim >= 2 and self.axis_index != 1
            p = f"{pred}.movedim({self.axis}, 1)" if moved else pred
            target = self._target("target", f"target.squeeze({self.axis})")
            if self.kind == "categorical" and moved:
                target = f"{target}.movedim({self.axis}, 1)"
            if self.cast_targets:
                target = f"{target}.to({source}.dtype)"
            if self.long_labels:
                target = f"{target}.long()"
            if self.kind == "binary":
                if use == "probabilities":
                    return f"torch.nn.functional.binary_cross_entropy(probs, {target})"
                return f"torch.nn.functional.binary_cross_entropy_with_logits({pred}, {target})"
            if self.kind == "sparse" and use == "log-probabilities":
                return f"torch.nn.functional.nll_loss({p}, {target})"
            return f"torch.nn.functional.cross_entropy({p}, {target})"
        if framework == "optax":
            labels = self._target("labels", f"labels.squeeze({self.axis})")
            if self.kind == "binary":
                return f"optax.sigmoid_binary_cross_entropy({pred}, {labels})"
            function = {
                "sparse": "softmax_cross_entropy_with_integer_labels",
                "categorical": "softmax_cross_entropy",
            }[self.kind]
            return f"optax.{function}({pred}, {labels}{self._axis_kw()})"
        # tensorflow
        labels = self._target("labels", f"tf.squeeze(labels, {self.axis})")
        if self.cast_targets:
            labels = f"tf.cast({labels}, {source}.dtype)"
        if self.kind == "binary":
            return f"tf.nn.sigmoid_cross_entropy_with_logits(labels={labels}, logits={pred})"
        if self.kind == "categorical":
            return (
                f"tf.nn.softmax_cross_entropy_with_logits(labels={labels}, logits={pred}"
                f"{self._axis_kw()})"
            )
        p = pred if last else f"tf.experimental.numpy.moveaxis({pred}, {self.axis}, -1)"
        return f"tf.nn.sparse_softmax_cross_entropy_with_logits(labels={labels}, logits={p})"

    def _target(self, name: str, squeezed: str) -> str:
        """The targets ``name`` brought to the shape the logits-only APIs want."""
        if self.squeeze_labels:
            return squeezed
        if self.expand_targets:
            return f"{name}[..., None]"
        return name


def _nan_code(framework: str) -> str:
    return {
        "torch": "torch.autograd.set_detect_anomaly(True)  # reports the op that made the NaN",
        "optax": 'jax.config.update("jax_debug_nans", True)  # raises at the op that made it',
        "keras": "tf.debugging.enable_check_numerics()  # raises at the op that made the NaN",
        "tensorflow": "tf.debugging.enable_check_numerics()  # raises at the op that made it",
        "xloss": 'np.seterr(invalid="raise")  # NumPy: raise where a NaN is made',
    }[framework]


def _num(x: float | None) -> str:
    return "none" if x is None else f"{x:.4g}"
