"""The curated public surface: every subpackage lists its API in a sorted, complete __all__."""

from __future__ import annotations

import importlib
import inspect

import pytest

PACKAGES = [
    "keywell",
    "keywell.cli",
    "keywell.client",
    "keywell.errors",
    "keywell.integrations",
    "keywell.jose",
    "keywell.lifecycle",
    "keywell.lint",
    "keywell.server",
    "keywell.store",
]


def _isort_key(name: str) -> tuple[int, str]:
    """SCREAMING_CASE first, then CamelCase, then the rest (ruff's RUF022 order)."""
    if name.isupper():
        return (0, name)
    return (1, name) if name[0].isupper() else (2, name)


@pytest.mark.parametrize("name", PACKAGES)
def test_all_is_sorted_and_resolves(name: str) -> None:
    module = importlib.import_module(name)
    exported = list(module.__all__)
    assert exported == sorted(exported, key=_isort_key), "sort __all__ (ruff RUF022)"
    for attr in exported:
        assert hasattr(module, attr), f"{name}.{attr} is in __all__ but missing"


@pytest.mark.parametrize("name", PACKAGES)
def test_all_is_complete(name: str) -> None:
    """Every public keywell class or function reachable from the package is in __all__."""
    module = importlib.import_module(name)
    public = {
        attr
        for attr, obj in vars(module).items()
        if not attr.startswith("_")
        and not inspect.ismodule(obj)
        and (inspect.isclass(obj) or inspect.isfunction(obj))
        and getattr(obj, "__module__", "").startswith("keywell")
    }
    missing = public - set(module.__all__)
    assert not missing, f"{name} exposes {sorted(missing)} without listing them in __all__"


@pytest.mark.parametrize("name", PACKAGES)
def test_every_public_name_has_a_docstring(name: str) -> None:
    module = importlib.import_module(name)
    for attr in module.__all__:
        obj = getattr(module, attr)
        if inspect.isclass(obj) or inspect.isfunction(obj) or inspect.ismodule(obj):
            assert inspect.getdoc(obj), f"{name}.{attr} has no docstring"


def test_core_imports_without_extras() -> None:
    """Importing keywell must not pull in httpx, SQLAlchemy or a web framework."""
    import subprocess
    import sys

    code = (
        "import sys, keywell; "
        "heavy = [m for m in ('httpx', 'sqlalchemy', 'starlette', 'typer', 'rich') "
        "if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == ""


@pytest.mark.parametrize(
    ("blocked", "code", "hint"),
    [
        ("sqlalchemy", "import keywell; keywell.Issuer", "keywell[store]"),
        ("httpx", "import keywell.client", "keywell[client]"),
    ],
)
def test_a_missing_extra_is_named(blocked: str, code: str, hint: str) -> None:
    """Without an extra's package, the error says which extra to install."""
    import subprocess
    import sys

    script = f"import sys; sys.modules[{blocked!r}] = None; {code}"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 1
    assert "ImportError" in result.stderr
    assert hint in result.stderr
