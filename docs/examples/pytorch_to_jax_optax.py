"""Porting a PyTorch classifier's loss to JAX and optax, and proving the port with xloss.

The PyTorch training step has two heads:

    F.cross_entropy(logits, labels, weight=class_weight, label_smoothing=0.1)  # -100 = unlabeled
    F.binary_cross_entropy_with_logits(tag_logits, tags, pos_weight=pos_weight)

optax's losses are per example, from logits, with no class weights, no ignored label, no
positive-class weight and no mean. The port writes those parts by hand. xloss computes torch's
numbers on JAX arrays (``xloss.compat.torch``) and optax's anywhere (``xloss.compat.optax``), so
the hand-written port is checked against torch, its gradient included, and the one case where
"the mean" is a choice (a batch with no labeled example) is made explicit.

Run it from the repository root: ``python docs/examples/pytorch_to_jax_optax.py``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import torch
import torch.nn.functional as F

from xloss.compat import optax as xoptax
from xloss.compat import torch as xtorch

IGNORE = -100
rng = np.random.default_rng(11)
N, C, T = 6, 4, 3  # batch, classes, tags
logits_np = rng.normal(scale=2.0, size=(N, C)).astype(np.float32)
labels_np = rng.integers(0, C, size=N)
labels_np[[1, 4]] = IGNORE  # unlabeled examples
class_weight_np = np.array([1.0, 2.0, 0.5, 1.5], np.float32)
tag_logits_np = rng.normal(scale=2.0, size=(N, T)).astype(np.float32)
tags_np = rng.integers(0, 2, size=(N, T)).astype(np.float32)
pos_weight_np = np.array([3.0, 1.0, 0.5], np.float32)


def torch_loss(logits, labels, tag_logits, tags):
    """The PyTorch original."""
    ce = F.cross_entropy(
        logits, labels, weight=torch.from_numpy(class_weight_np), label_smoothing=0.1
    )
    bce = F.binary_cross_entropy_with_logits(
        tag_logits, tags, pos_weight=torch.from_numpy(pos_weight_np)
    )
    return ce, bce


def jax_loss(logits, labels, tag_logits, tags):
    """The port: optax's per-example losses, with torch's weights, ignore and divisors."""
    valid = labels != IGNORE
    safe = jnp.where(valid, labels, 0)
    class_weight = jnp.asarray(class_weight_np)
    # torch's weighted smoothing: -sum_c w_c * smooth(y)_c * log p_c, so the weights multiply
    # the smoothed targets (not the per-example loss), and the mean divides by sum w[y_n].
    targets = optax.smooth_labels(jax.nn.one_hot(safe, C), 0.1) * class_weight
    per_example = optax.softmax_cross_entropy(logits, targets)
    divisor = jnp.sum(jnp.where(valid, class_weight[safe], 0.0))
    ce = jnp.sum(jnp.where(valid, per_example, 0.0)) / divisor
    # optax has no pos_weight: torch's formula is (1 - z) x - (1 + (q - 1) z) log sigmoid(x)
    q = jnp.asarray(pos_weight_np)
    elementwise = (1 - tags) * tag_logits - (1 + (q - 1) * tags) * jax.nn.log_sigmoid(tag_logits)
    return ce, jnp.mean(elementwise)


# --- 1. The port against the original ---------------------------------------------------------
t_inputs = [torch.from_numpy(a) for a in (logits_np, labels_np, tag_logits_np, tags_np)]
j_inputs = [jnp.asarray(a) for a in (logits_np, labels_np, tag_logits_np, tags_np)]
torch_ce, torch_bce = torch_loss(*t_inputs)
jax_ce, jax_bce = jax_loss(*j_inputs)
np.testing.assert_allclose(float(jax_ce), torch_ce.item(), rtol=1e-5)
np.testing.assert_allclose(float(jax_bce), torch_bce.item(), rtol=1e-5)

# torch's numbers on JAX arrays, with torch's own arguments, without torch:
compat_ce = xtorch.cross_entropy(
    j_inputs[0], j_inputs[1], jnp.asarray(class_weight_np), label_smoothing=0.1
)
compat_bce = xtorch.binary_cross_entropy_with_logits(
    j_inputs[2], j_inputs[3], pos_weight=jnp.asarray(pos_weight_np)
)
assert isinstance(compat_ce, jax.Array)
np.testing.assert_allclose(float(compat_ce), torch_ce.item(), rtol=1e-5)
np.testing.assert_allclose(float(compat_bce), torch_bce.item(), rtol=1e-5)

# --- 2. The gradients agree too ---------------------------------------------------------------
t_logits = t_inputs[0].clone().requires_grad_()
sum(torch_loss(t_logits, *t_inputs[1:])).backward()
j_grad = jax.grad(lambda x: sum(jax_loss(x, *j_inputs[1:])))(j_inputs[0])
np.testing.assert_allclose(np.asarray(j_grad), t_logits.grad.numpy(), rtol=1e-4, atol=1e-6)
# the unlabeled rows get exactly zero gradient on both sides
assert not np.asarray(j_grad)[[1, 4]].any() and not t_logits.grad[[1, 4]].any()

# --- 3. What optax alone gives: not torch's number --------------------------------------------
# The usual first port: mean of optax's per-example loss over the labeled rows, unweighted.
valid = labels_np != IGNORE
plain = optax.softmax_cross_entropy_with_integer_labels(
    j_inputs[0][valid], j_inputs[1][valid]
).mean()
plain_torch = F.cross_entropy(t_inputs[0], t_inputs[1])  # no weight, no smoothing
np.testing.assert_allclose(float(plain), plain_torch.item(), rtol=1e-5)
assert abs(float(plain) - torch_ce.item()) > 1e-2  # the weights and smoothing matter
# optax's number, reproduced by xloss on torch tensors:
np.testing.assert_allclose(
    xoptax.softmax_cross_entropy_with_integer_labels(t_inputs[0][valid], t_inputs[1][valid])
    .mean()
    .item(),
    float(plain),
    rtol=1e-5,
)

# --- 4. A batch with no labeled example -------------------------------------------------------
# torch divides 0 by 0 and returns nan (by design, pytorch#70348); the port above does too.
# A training loop usually wants 0 there: make it an explicit choice.
unlabeled = np.full(N, IGNORE)
nan_torch = F.cross_entropy(t_inputs[0], torch.from_numpy(unlabeled), weight=None)
nan_port, _ = jax_loss(j_inputs[0], jnp.asarray(unlabeled), *j_inputs[2:])
nan_compat = xtorch.cross_entropy(j_inputs[0], jnp.asarray(unlabeled))
assert np.isnan(nan_torch.item()) and np.isnan(float(nan_port)) and np.isnan(float(nan_compat))

print("PyTorch -> JAX/optax: the port computes the PyTorch model's loss")
print(f"  cross-entropy (class weights, smoothing 0.1, ignore -100): torch {torch_ce.item():.6f}")
print(f"      optax port {float(jax_ce):.6f}, xloss.compat.torch on JAX {float(compat_ce):.6f}")
print(f"  BCE with pos_weight: torch {torch_bce.item():.6f}, optax port {float(jax_bce):.6f}")
print(f"  gradients agree; optax's plain mean would give {float(plain):.6f}")
print("  no labeled example: torch, the port and xloss.compat.torch all give nan")
