"""One loss, four frameworks, one number: the README's tour, runnable as it is."""

import numpy as np
import torch  # torch before tensorflow in one process

import jax.numpy as jnp  # isort: skip
import tensorflow as tf  # isort: skip

import xloss

labels = [2, 0, 1]
logits = np.array([[0.5, 1.0, 3.0], [2.0, -1.0, 0.0], [0.0, 4.0, -2.0]], np.float32)

for name, make in [
    ("numpy", np.asarray),
    ("torch", torch.from_numpy),
    ("jax", jnp.asarray),
    ("tensorflow", tf.constant),
]:
    x = make(logits)
    per_sample = xloss.sparse_categorical_crossentropy(labels, x, from_logits=True)
    mean = xloss.SparseCategoricalCrossentropy(from_logits=True)(labels, x)
    kind = type(per_sample).__name__
    print(f"{name:>10}: {kind:>12} {np.asarray(per_sample)}  mean={float(mean):.6f}")

# torch's layout (batch, classes, length) with ignored positions, on a JAX array:
x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 3, 4)), jnp.float32)
y = jnp.array([[0, 1, 2, -100], [2, 2, -100, 0]])
loss = xloss.SparseCategoricalCrossentropy(from_logits=True, axis=1, ignore_class=-100)
print("axis=1, ignore_class=-100 on JAX:", float(loss(y, x)))
