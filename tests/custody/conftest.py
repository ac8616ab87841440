"""The custody backends' session fixtures (each module starts its real backend on loopback)."""

from tests.custody.backend_transit import transit_backend

__all__ = ["transit_backend"]
