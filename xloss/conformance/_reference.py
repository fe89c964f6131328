"""Float64 NumPy references, written from the definitions (Keras 3's, where they differ).

They are the first oracle of every test; the frameworks' own losses are the second.
"""

from __future__ import annotations

import numpy as np

EPS = 1e-7  # Keras's backend.epsilon()


def f64(x: object) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def logsumexp(x: object, axis: int = -1, keepdims: bool = False) -> np.ndarray:
    x = f64(x)
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore"):
        out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


def log_softmax(x: object, axis: int = -1) -> np.ndarray:
    # (x - m) - log(sum(exp(x - m))): x - logsumexp(x) would lose everything below ulp(m).
    x = f64(x)
    m = np.max(x, axis=axis, keepdims=True)
    shifted = x - np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def softmax(x: object, axis: int = -1) -> np.ndarray:
    return np.exp(log_softmax(x, axis))


def log_sigmoid(x: object) -> np.ndarray:
    return -np.logaddexp(0.0, -f64(x))


def _clip(p, compute_dtype):
    """Keras's clip to [1e-7, 1 - 1e-7], with the bounds rounded to the compute dtype (in
    float32, 1 - 1e-7 is 0.99999988)."""
    low, high = np.array([EPS, 1 - EPS], dtype=compute_dtype).astype(np.float64)
    return np.clip(p, low, high)


def categorical(
    y_true, y_pred, *, from_logits=False, label_smoothing=0.0, axis=-1, compute_dtype="float64"
):
    y, p = f64(y_true), f64(y_pred)
    if label_smoothing:
        y = y * (1 - label_smoothing) + label_smoothing / p.shape[axis]
    if from_logits:
        log_p = log_softmax(p, axis)
    else:
        total = p.sum(axis=axis, keepdims=True)
        log_p = np.log(_clip(p / np.where(total == 0, 1.0, total), compute_dtype))
    with np.errstate(invalid="ignore"):
        terms = np.where(y == 0, 0.0, y * log_p)  # 0 * log 0 = 0
    return -terms.sum(axis=axis)


def sparse_categorical(
    y_true, y_pred, *, from_logits=False, ignore_class=None, axis=-1, compute_dtype="float64"
):
    labels = np.asarray(y_true)
    p = f64(y_pred)
    valid = np.ones(labels.shape, bool) if ignore_class is None else labels != ignore_class
    one_hot = np.moveaxis(np.eye(p.shape[axis])[np.where(valid, labels, 0)], -1, axis)
    loss = categorical(one_hot, p, from_logits=from_logits, axis=axis, compute_dtype=compute_dtype)
    return np.where(valid, loss, 0.0)


def binary(
    y_true, y_pred, *, from_logits=False, label_smoothing=0.0, axis=-1, compute_dtype="float64"
):
    z, x = f64(y_true), f64(y_pred)
    if label_smoothing:
        z = z * (1 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        per = -(z * log_sigmoid(x) + (1 - z) * log_sigmoid(-x))
    else:
        p = _clip(x, compute_dtype)
        per = -(z * np.log(p) + (1 - z) * np.log(1 - p))
    return per.mean(axis=axis)


def reduce(values, sample_weight=None, valid=None, reduction="sum_over_batch_size"):
    """Keras 3's reductions: ``sum(w * l)`` over a count, or over ``sum(w)``."""
    values = f64(values)
    w = (
        np.ones_like(values)
        if sample_weight is None
        else np.broadcast_to(
            f64(sample_weight).reshape(
                f64(sample_weight).shape + (1,) * (values.ndim - np.ndim(sample_weight))
            ),
            values.shape,
        )
    )
    m = np.ones_like(values) if valid is None else np.asarray(valid, np.float64)
    weighted = values * w * m
    if reduction in (None, "none"):
        return weighted
    if reduction == "sum":
        return weighted.sum()
    if reduction == "mean_with_sample_weight" and (sample_weight is not None or valid is not None):
        divisor = (w * m).sum()
    else:
        divisor = m.sum()
    return weighted.sum() / divisor if divisor else 0.0


def top_k(x, k, axis=-1, largest=True):
    """Sorted; ties lower index first; NaN above +inf; -0.0 == 0.0 (``(values, indices)``)."""
    x = np.asarray(x)
    moved = np.moveaxis(x, axis, -1)
    index = np.broadcast_to(np.arange(moved.shape[-1]), moved.shape)
    if moved.dtype.kind == "f":
        nan = np.isnan(moved)
        value = np.where(nan, 0.0, moved.astype(np.float64))
        # np.lexsort sorts by the last key first: NaN-ness, then the value, then the index.
        keys = (index, -value, ~nan) if largest else (index, value, nan)
        order = np.lexsort(keys, axis=-1)
    else:
        order = np.argsort(~moved if largest else moved, axis=-1, kind="stable")
    order = order[..., :k]
    values = np.take_along_axis(moved, order, axis=-1)
    return np.moveaxis(values, -1, axis), np.moveaxis(order, -1, axis)


# --- HuggingFace's generation warpers in float64 (transformers/generation/logits_process.py)


def hf_top_k(scores, top_k, filter_value=-np.inf, min_tokens_to_keep=1):
    """TopKLogitsWarper: remove scores strictly below the k-th largest (ties survive)."""
    scores = f64(scores)
    top_k = min(max(top_k, min_tokens_to_keep), scores.shape[-1])
    kth = np.sort(scores, axis=-1)[..., -top_k][..., None]
    return np.where(scores < kth, filter_value, scores)


def hf_top_p(scores, top_p, filter_value=-np.inf, min_tokens_to_keep=1):
    """TopPLogitsWarper: sort ascending, remove where the cumulative probability <= 1 - top_p."""
    scores = f64(scores)
    order = np.argsort(scores, axis=-1, kind="stable")
    sorted_scores = np.take_along_axis(scores, order, axis=-1)
    cumulative = np.cumsum(softmax(sorted_scores), axis=-1)
    remove_sorted = cumulative <= 1 - top_p
    remove_sorted[..., -min_tokens_to_keep:] = False
    remove = np.empty_like(remove_sorted)
    np.put_along_axis(remove, order, remove_sorted, axis=-1)
    return np.where(remove, filter_value, scores)


def hf_min_p(scores, min_p, filter_value=-np.inf, min_tokens_to_keep=1):
    """MinPLogitsWarper: remove tokens less probable than min_p times the most probable."""
    scores = f64(scores)
    probs = softmax(scores)
    remove = probs < min_p * probs.max(axis=-1, keepdims=True)
    order = np.argsort(-scores, axis=-1, kind="stable")
    remove_sorted = np.take_along_axis(remove, order, axis=-1)
    remove_sorted[..., :min_tokens_to_keep] = False
    np.put_along_axis(remove, order, remove_sorted, axis=-1)
    return np.where(remove, filter_value, scores)
