"""The custody backends' session fixtures (each module starts its real backend on loopback)."""

from tests.custody.backend_awskms import awskms_backend
from tests.custody.backend_pkcs11 import pkcs11_backend
from tests.custody.backend_transit import transit_backend

__all__ = ["awskms_backend", "pkcs11_backend", "transit_backend"]
