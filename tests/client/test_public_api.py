"""Each framework integration module imports and lists what it offers.

The package-level ``__all__`` checks live in tests/test_public_api.py.
"""

from __future__ import annotations

import importlib

import pytest


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
