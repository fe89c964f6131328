"""Native loss objects: xloss's losses as ``keras.losses.Loss`` and ``torch.nn.Module`` classes.

Import the one you need — ``import xloss.integrations.keras`` or
``import xloss.integrations.torch`` — it imports its framework; ``import xloss`` does not.
"""
