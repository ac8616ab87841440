"""The custody backends' fixtures (each starts a real backend on loopback or in a tmp dir)."""

from tests.custody.backend_pkcs11 import pkcs11_backend

__all__ = ["pkcs11_backend"]
