"""Porting a TensorFlow 2 loss to Keras 3 (any backend), and proving the port with xloss.

The TensorFlow original, a token classifier with padding:

    per_token = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    mask = tf.cast(labels != PAD, tf.float32)
    loss = tf.reduce_sum(per_token * mask) / tf.reduce_sum(mask)

The Keras 3 port is one loss object that runs on TensorFlow, JAX or PyTorch:

    keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=PAD)

xloss computes tf.nn's numbers (``xloss.compat.tensorflow``) and Keras's (``xloss.compat.keras``)
on any backend's arrays, so the port is checked on TensorFlow and on JAX arrays. Two traps of
moving from Keras-on-TensorFlow to Keras 3 on another backend are shown with real Keras on its
JAX backend (in a subprocess, as Keras picks its backend once per process): a softmax output
passed with from_logits=True, which Keras's TensorFlow backend silently repairs and its JAX
backend does not, and an out-of-range label, which TensorFlow rejects and Keras-on-JAX turns
into a loss of 0.

Run it from the repository root: ``python docs/examples/tf_to_keras3.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings

import jax.numpy as jnp
import keras
import numpy as np
import tensorflow as tf

import xloss
from xloss.compat import keras as xkeras
from xloss.compat import tensorflow as xtf

PAD = 0
rng = np.random.default_rng(3)
N, L, C = 3, 5, 4
logits_np = rng.normal(scale=2.0, size=(N, L, C)).astype(np.float32)
labels_np = rng.integers(1, C, size=(N, L))
labels_np[0, 3:] = PAD
labels_np[2, 4:] = PAD
mask_np = (labels_np != PAD).astype(np.float32)


def tf_original(labels, logits):
    per_token = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    mask = tf.cast(labels != PAD, tf.float32)
    return tf.reduce_sum(per_token * mask) / tf.reduce_sum(mask)


# --- 1. The port on Keras's TensorFlow backend ------------------------------------------------
assert keras.backend.backend() == "tensorflow"
original = float(tf_original(tf.constant(labels_np), tf.constant(logits_np)))
port = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=PAD)
ported = float(port(labels_np, logits_np))
np.testing.assert_allclose(ported, original, rtol=1e-5)

# --- 2. Both sides on JAX arrays, with xloss ---------------------------------------------------
labels_j, logits_j = jnp.asarray(labels_np), jnp.asarray(logits_np)
per_token_j = xtf.sparse_softmax_cross_entropy_with_logits(labels=labels_j, logits=logits_j)
original_on_jax = jnp.sum(per_token_j * mask_np) / mask_np.sum()
port_on_jax = xkeras.SparseCategoricalCrossentropy(from_logits=True, ignore_class=PAD)(
    labels_j, logits_j
)
np.testing.assert_allclose(float(original_on_jax), original, rtol=1e-5)
np.testing.assert_allclose(float(port_on_jax), original, rtol=1e-5)

# --- 3. The divisor: reduce_mean over every token is a different loss --------------------------
# A common TF variant divides by all tokens, padding included. Keras's ignore_class divides by
# the real tokens; its default reduction with the mask as sample_weight divides by all.
all_tokens = float(
    tf.reduce_mean(
        tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels_np, logits=logits_np) * mask_np
    )
)
keras_all_tokens = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(
    labels_np, logits_np, sample_weight=mask_np
)
np.testing.assert_allclose(float(keras_all_tokens), all_tokens, rtol=1e-5)
np.testing.assert_allclose(all_tokens, original * mask_np.sum() / mask_np.size, rtol=1e-5)

# --- 4. A multi-label head: elementwise in tf.nn, averaged over the last axis in Keras --------
tags_np = rng.integers(0, 2, size=(N, 6)).astype(np.float32)
tag_logits_np = rng.normal(scale=2.0, size=(N, 6)).astype(np.float32)
tf_tags = tf.nn.sigmoid_cross_entropy_with_logits(labels=tags_np, logits=tag_logits_np)
keras_tags = keras.losses.binary_crossentropy(tags_np, tag_logits_np, from_logits=True)
assert tf_tags.shape == (N, 6) and keras_tags.shape == (N,)
np.testing.assert_allclose(np.asarray(keras_tags), np.mean(tf_tags, axis=-1), rtol=1e-5)
np.testing.assert_allclose(
    xtf.sigmoid_cross_entropy_with_logits(
        labels=jnp.asarray(tags_np), logits=jnp.asarray(tag_logits_np)
    ),
    tf_tags,
    rtol=1e-5,
)

# --- 5. Trap: softmax output with from_logits=True ---------------------------------------------
# A Keras model ending in Dense(activation="softmax"), compiled with from_logits=True. On the
# TensorFlow backend, without ignore_class, Keras finds the logits cached on the softmax output
# (`_keras_logits`), warns, and computes from them: the right number, by accident. With
# ignore_class it does not (the marker is lost on the way): softmax twice, and no warning.
probs_tf = keras.activations.softmax(tf.constant(logits_np))
plain = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    repaired = float(plain(labels_np, probs_tf))
    keras_on_tf = float(port(labels_np, probs_tf))
assert [str(w.message).count("Softmax activation") for w in caught] == [1]  # one warning
np.testing.assert_allclose(repaired, float(plain(labels_np, logits_np)), rtol=1e-5)
# On JAX arrays xloss (like Keras on JAX and PyTorch) computes with what it is given: softmax
# twice, and says so with a FromLogitsWarning; xloss.diagnose explains it. (On the TensorFlow
# tensor itself, xloss.compat.keras reads the marker as Keras's TensorFlow backend does.)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    twice = float(
        xkeras.SparseCategoricalCrossentropy(from_logits=True, ignore_class=PAD)(
            labels_j, jnp.asarray(probs_tf.numpy())
        )
    )
    twice_plain = float(
        xkeras.SparseCategoricalCrossentropy(from_logits=True)(
            labels_j, jnp.asarray(probs_tf.numpy())
        )
    )
assert any(issubclass(w.category, xloss.FromLogitsWarning) for w in caught)
np.testing.assert_allclose(keras_on_tf, twice, rtol=1e-5)  # Keras-on-TF with ignore_class
with warnings.catch_warnings():
    warnings.simplefilter("ignore", xloss.FromLogitsWarning)
    on_tf = xkeras.SparseCategoricalCrossentropy(from_logits=True)(labels_np, probs_tf)
np.testing.assert_allclose(float(on_tf), repaired, rtol=1e-5)  # repaired, as Keras-on-TF
assert abs(twice - original) > 0.1
report = xloss.diagnose(labels_np, probs_tf, from_logits=True)
assert not report.ok and report.evidence.keras_marker

# --- 6. Real Keras 3 on its JAX backend ---------------------------------------------------------
JAX_BACKEND = """
import json, numpy as np, keras
assert keras.backend.backend() == "jax"
data = json.loads(input())
logits = np.array(data["logits"], np.float32)
labels = np.array(data["labels"])
loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0)
plain = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
probs = keras.activations.softmax(logits)
bad = labels.copy()
bad[1, 0] = 9  # no such class
per = keras.losses.sparse_categorical_crossentropy(bad, logits, from_logits=True)
print(json.dumps({
    "port": float(loss(labels, logits)),
    "softmax_output": float(plain(labels, probs)),
    "bad_label": float(np.asarray(per)[1, 0]),
}))
"""
env = dict(os.environ, KERAS_BACKEND="jax")
run = subprocess.run(
    [sys.executable, "-c", JAX_BACKEND],
    input=json.dumps({"logits": logits_np.tolist(), "labels": labels_np.tolist()}),
    capture_output=True,
    text=True,
    env=env,
    check=True,
)
on_jax = json.loads(run.stdout.strip().splitlines()[-1])
np.testing.assert_allclose(on_jax["port"], original, rtol=1e-5)  # the port is portable
np.testing.assert_allclose(on_jax["softmax_output"], twice_plain, rtol=1e-5)  # not repaired
assert abs(twice_plain - repaired) > 0.1
# Out-of-range label: TensorFlow raises, Keras on JAX gives 0, xloss raises (eagerly).
bad_np = labels_np.copy()
bad_np[1, 0] = 9
try:
    tf.nn.sparse_softmax_cross_entropy_with_logits(labels=bad_np, logits=logits_np)
    raise AssertionError("TensorFlow accepted label 9")
except tf.errors.InvalidArgumentError:
    pass
assert on_jax["bad_label"] == 0.0
try:
    xkeras.SparseCategoricalCrossentropy(from_logits=True)(jnp.asarray(bad_np), logits_j)
    raise AssertionError("xloss accepted label 9")
except ValueError as error:
    assert "label 9" in str(error)

print("TensorFlow -> Keras 3: the port computes the TensorFlow loss on every backend")
print(f"  tf.nn + mask (original)                           {original:.6f}")
print(f"  Keras 3 port on TensorFlow                        {ported:.6f}")
print(f"  Keras 3 port on JAX (real Keras, subprocess)      {on_jax['port']:.6f}")
print(
    f"  xloss.compat.tensorflow / .keras on JAX arrays    {float(original_on_jax):.6f} / "
    f"{float(port_on_jax):.6f}"
)
print(f"  dividing by every token instead                   {all_tokens:.6f}")
print(
    f"  softmax output + from_logits=True: TF backend {repaired:.6f} (repaired, warned), "
    f"JAX backend {on_jax['softmax_output']:.6f} (softmax twice)"
)
print(f"    with ignore_class on the TF backend: {keras_on_tf:.6f} (softmax twice, no warning)")
print("  label 9 of 4 classes: TF raises, Keras-on-JAX gives loss 0, xloss raises ValueError")
