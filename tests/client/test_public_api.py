"""The curated public surfaces: ``__all__`` complete, sorted and importable."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize("module", ["keywell.client", "keywell.integrations"])
def test_all_sorted_and_resolvable(module: str) -> None:
    mod = importlib.import_module(module)
    names = mod.__all__
    assert names == sorted(names)
    for name in names:
        assert getattr(mod, name) is not None
    public = {n for n in vars(mod) if not n.startswith("_") and n[0].isupper()}
    assert public <= set(names)


@pytest.mark.parametrize(
    "module",
    [
        "keywell.integrations.asgi",
        "keywell.integrations.flask",
        "keywell.integrations.django",
        "keywell.integrations.httpx",
    ],
)
def test_integration_modules_import(module: str) -> None:
    mod = importlib.import_module(module)
    assert mod.__all__
    for name in mod.__all__:
        assert hasattr(mod, name)
