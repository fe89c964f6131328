"""Porting a Keras sequence tagger's loss to PyTorch, and proving the port with xloss.

The Keras model ends in a softmax and is compiled with

    keras.losses.SparseCategoricalCrossentropy(ignore_class=0)  # tag 0 is padding

The PyTorch port drops the softmax (``F.cross_entropy`` takes logits), moves the class axis to
dim 1 and passes ``ignore_index=0`` (torch ignores -100 by default, not 0). xloss computes
Keras's numbers on the torch tensors (``xloss.compat.keras``) and torch's numbers anywhere
(``xloss.compat.torch``), so each step below is checked against both frameworks, and the
places where they differ (the 1e-7 probability clip, label smoothing with padding) are shown
with the setting that makes them agree.

Run it from the repository root: ``python docs/examples/keras_to_pytorch.py``.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch  # import torch before TensorFlow (Keras's backend here) in one process
import torch.nn.functional as F

# isort: split
import keras

import xloss
from xloss.compat import keras as xkeras
from xloss.compat import torch as xtorch

PAD = 0
rng = np.random.default_rng(7)
N, L, C = 4, 6, 5  # batch, sequence length, tags
logits_np = rng.normal(scale=2.0, size=(N, L, C)).astype(np.float32)
labels_np = rng.integers(1, C, size=(N, L))
labels_np[0, 4:] = PAD
labels_np[2, 3:] = PAD

# --- 1. The Keras side: softmax output, from_logits=False (the default), ignore_class=0 -------
# model.predict() returns NumPy probabilities: no `_keras_logits` marker to fall back on.
probs_np = keras.ops.convert_to_numpy(keras.activations.softmax(logits_np))
keras_loss = float(
    keras.losses.SparseCategoricalCrossentropy(ignore_class=PAD)(labels_np, probs_np)
)

# The same number from xloss, on torch tensors (Keras is not involved):
logits = torch.from_numpy(logits_np)
labels = torch.from_numpy(labels_np)
probs = torch.softmax(logits, dim=-1)
on_torch = xkeras.SparseCategoricalCrossentropy(ignore_class=PAD)(labels, probs)
assert isinstance(on_torch, torch.Tensor)
np.testing.assert_allclose(on_torch.item(), keras_loss, rtol=1e-5)

# --- 2. The port, and the two usual slips -----------------------------------------------------
# Slip 1: feeding the softmax output to F.cross_entropy (it applies softmax again). diagnose
# catches it and writes the torch line to use instead.
report = xloss.diagnose(labels, probs, from_logits=True)
assert not report.ok and report.looks_like == "probabilities"
assert report.code.startswith("torch.nn.functional.cross_entropy(logits.movedim(-1, 1), target)")

# Slip 2: forgetting ignore_index: torch ignores -100, so the padding tag counts as a class.
naive = F.cross_entropy(logits.movedim(-1, 1), labels)
port = F.cross_entropy(logits.movedim(-1, 1), labels, ignore_index=PAD)
np.testing.assert_allclose(port.item(), keras_loss, rtol=1e-5)
assert abs(naive.item() - keras_loss) > 1e-2
# torch's numbers, reproduced by xloss on the NumPy arrays (torch's class axis 1):
np.testing.assert_allclose(
    xtorch.cross_entropy(np.moveaxis(logits_np, -1, 1), labels_np, ignore_index=PAD),
    port.item(),
    rtol=1e-5,
)

# --- 3. Where they differ: Keras clips probabilities at 1e-7 ----------------------------------
# One confidently wrong position: Keras's loss from probabilities is capped at -log(1e-7),
# torch's from logits is not. Each side is reproduced by xloss on the other side's arrays.
wrong_np = logits_np.copy()
wrong_np[1, 0] = -20.0
wrong_np[1, 0, (labels_np[1, 0] + 1) % C] = 20.0
wrong = torch.from_numpy(wrong_np)
wrong_probs_np = keras.ops.convert_to_numpy(keras.activations.softmax(wrong_np))
per_keras = keras.losses.sparse_categorical_crossentropy(labels_np, wrong_probs_np)
per_torch = F.cross_entropy(wrong.movedim(-1, 1), labels, reduction="none")
capped, uncapped = float(np.asarray(per_keras)[1, 0]), per_torch[1, 0].item()
np.testing.assert_allclose(capped, -np.log(1e-7), rtol=1e-4)
assert uncapped > 39.0
np.testing.assert_allclose(
    xkeras.sparse_categorical_crossentropy(labels, torch.softmax(wrong, -1))[1, 0].item(),
    capped,
    rtol=1e-5,
)
np.testing.assert_allclose(
    xtorch.cross_entropy(np.moveaxis(wrong_np, -1, 1), labels_np, reduction="none")[1, 0],
    uncapped,
    rtol=1e-5,
)
# To match torch in Keras: drop the softmax and pass from_logits=True (no clip).
keras_from_logits = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=PAD)
np.testing.assert_allclose(
    float(keras_from_logits(labels_np, wrong_np)),
    F.cross_entropy(wrong.movedim(-1, 1), labels, ignore_index=PAD).item(),
    rtol=1e-5,
)

# --- 4. Label smoothing with padding ----------------------------------------------------------
# Keras's sparse loss has no label_smoothing; its categorical loss does, and a padding mask as
# sample_weight with "mean_with_sample_weight" divides by the number of real tags, as torch's
# ignore_index does. torch's smoothing for class indices equals the smoothed one-hot.
one_hot = np.eye(C, dtype=np.float32)[labels_np]
mask = (labels_np != PAD).astype(np.float32)
smoothed_keras = keras.losses.CategoricalCrossentropy(
    from_logits=True, label_smoothing=0.1, reduction="mean_with_sample_weight"
)(one_hot, logits_np, sample_weight=mask)
smoothed_torch = F.cross_entropy(
    logits.movedim(-1, 1), labels, ignore_index=PAD, label_smoothing=0.1
)
np.testing.assert_allclose(float(smoothed_keras), smoothed_torch.item(), rtol=1e-5)
# Keras's default reduction divides by every position, padding included: not torch's number.
default_keras = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1)(
    one_hot, logits_np, sample_weight=mask
)
np.testing.assert_allclose(
    float(default_keras), smoothed_torch.item() * mask.sum() / mask.size, rtol=1e-5
)
# Both sides again with xloss on torch tensors:
with warnings.catch_warnings():
    warnings.simplefilter("error")  # no FromLogitsWarning: the flags are right
    ours = xkeras.CategoricalCrossentropy(
        from_logits=True, label_smoothing=0.1, reduction="mean_with_sample_weight"
    )(torch.from_numpy(one_hot), logits, sample_weight=torch.from_numpy(mask))
np.testing.assert_allclose(ours.item(), smoothed_torch.item(), rtol=1e-5)

print("Keras -> PyTorch: the port computes the Keras model's loss")
print(f"  Keras (softmax output, ignore_class=0)         {keras_loss:.6f}")
print(f"  xloss.compat.keras on torch tensors            {on_torch.item():.6f}")
print(f"  F.cross_entropy(..., ignore_index=0)           {port.item():.6f}")
print(f"  F.cross_entropy without ignore_index (wrong)   {naive.item():.6f}")
print(f"  one confident mistake: Keras {capped:.3f} (clipped at 1e-7), torch {uncapped:.3f}")
print(
    f"  smoothing 0.1 with padding: Keras {float(smoothed_keras):.6f}, "
    f"torch {smoothed_torch.item():.6f}"
)
