"""keywell.server: the key server (needs the ``server`` extra).

Public JWK Sets and discovery documents from precomputed bytes with strong
ETags and policy-derived caching, an authenticated admin API with an OpenAPI
schema, token minting, health and Prometheus metrics, and a scheduler that
rotates keys on time on every replica.
"""

from keywell.server.app import KeywellServer, ServerState, create_app
from keywell.server.config import ServerConfig, load_config

__all__ = ["KeywellServer", "ServerConfig", "ServerState", "create_app", "load_config"]
