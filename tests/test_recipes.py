"""The porting recipes in docs/examples run to the end: each asserts its own claims against the
real frameworks, so exit status 0 means every claim held."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from backends import need

ROOT = Path(__file__).resolve().parent.parent
RECIPES = sorted((ROOT / "docs" / "examples").glob("*.py"))
NEEDS = {
    "keras_to_pytorch.py": ("torch", "keras", "tensorflow"),
    "pytorch_to_jax_optax.py": ("torch", "jax", "optax"),
    "tf_to_keras3.py": ("tensorflow", "keras", "jax"),
}


def test_every_recipe_is_listed():
    assert sorted(NEEDS) == [p.name for p in RECIPES]


@pytest.mark.parametrize("recipe", RECIPES, ids=[p.stem for p in RECIPES])
def test_recipe_runs(recipe):
    for module in NEEDS[recipe.name]:
        need(module)
    run = subprocess.run(
        [sys.executable, str(recipe)], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, f"{recipe.name} failed:\n{run.stdout}\n{run.stderr[-4000:]}"
    assert run.stdout.strip(), f"{recipe.name} printed no summary"
