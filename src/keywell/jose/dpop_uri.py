"""The ``htu`` comparison of DPoP (RFC 9449 section 4.3 step 9, RFC 3986 sections 6.2.2-6.2.3).

A proof's ``htu`` and the URI the request arrived at are compared after the
same normalisation, without query and fragment:

- syntax-based (RFC 3986 6.2.2): scheme and host lower-cased (6.2.2.1),
  percent-encodings upper-cased, and those of unreserved characters decoded
  (6.2.2.2), dot segments removed (6.2.2.3, the algorithm of 5.2.4);
- scheme-based (6.2.3): the default port (80 for ``http``, 443 for
  ``https``) dropped, and an empty path made ``/``.

The request side: :func:`request_uri` builds the URI a client addressed from
the public URL a deployment configures (behind a proxy) or the request's own
scheme and Host, and the path; :func:`asgi_request_uri` does so for an ASGI
scope (the integrations and the key server's mint path share it).

Only absolute ``http``/``https`` URIs of printable ASCII with a host are
accepted (a control character or a space is refused, never dropped); userinfo is
refused (a proof names a resource, never credentials). Anything else raises
``ValueError``, which the proof check turns into a typed refusal.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlsplit

__all__ = ["asgi_request_uri", "normalize_htu", "quote_path", "request_uri"]

_DEFAULT_PORTS = {"http": 80, "https": 443}
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
# A URI is made of printable ASCII only (RFC 3986 section 2); urlsplit would
# silently drop tab, CR and LF anywhere and C0 controls and spaces in front.
_URI_TEXT = re.compile(r"[\x21-\x7e]+")
_PCT = re.compile(r"%([0-9A-Fa-f]{2})")
# RFC 3986 3.3 pchar plus "/" and "%" (escapes are checked separately).
_PATH_CHARS = re.compile(r"^[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*$")
_HOST_CHARS = re.compile(r"^[a-z0-9\-._~!$&'()*+,;=%]+$")
_MAX_LENGTH = 8192
_CACHE_SIZE = 1024
_cache: dict[str, str] = {}  # a resource server sees few distinct URIs: normalise each once


def _pct(match: re.Match[str]) -> str:
    char = chr(int(match.group(1), 16))
    return char if char in _UNRESERVED else "%" + match.group(1).upper()


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4."""
    out: list[str] = []
    for segment in path.split("/")[1:]:
        if segment == "..":
            if out:
                out.pop()
        elif segment != ".":
            out.append(segment)
    trailing = path.endswith(("/.", "/.."))
    return "/" + "/".join(out) + ("/" if trailing and out else "")


def normalize_htu(uri: str) -> str:
    """The normalised form of an http(s) URI without query and fragment.

    Args:
        uri: an absolute URI, e.g. ``HTTPS://Example.COM:443/a/%7euser/../b?q#f``.

    Returns:
        The normalised URI, e.g. ``https://example.com/a/b``.

    Raises:
        ValueError: not a string, too long, a character outside printable
            ASCII (controls and spaces included), not absolute http(s), no host,
            userinfo, a bad port, or characters not allowed in a path.
    """
    found = _cache.get(uri) if type(uri) is str else None
    if found is not None:
        return found
    normal = _normalize(uri)
    if len(_cache) >= _CACHE_SIZE:
        _cache.clear()
    _cache[uri] = normal
    return normal


def _normalize(uri: str) -> str:
    if type(uri) is not str or len(uri) > _MAX_LENGTH or not _URI_TEXT.fullmatch(uri):
        raise ValueError("not a URI of printable ASCII of reasonable length")
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise ValueError("not an http or https URI")
    if "@" in parts.netloc:
        raise ValueError("userinfo is not allowed")
    host = parts.hostname
    if not host:
        raise ValueError("the URI has no host")
    port = parts.port  # raises ValueError when not a number in 0..65535
    if ":" in host:
        host = f"[{host}]"
    elif not _HOST_CHARS.match(host):
        raise ValueError("the host has characters a URI does not allow")
    authority = host if port is None or port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"
    path = parts.path or "/"
    if not _PATH_CHARS.match(path) or "%" in _PCT.sub("", path):
        raise ValueError("the path has characters a URI does not allow")
    path = _remove_dot_segments(_PCT.sub(_pct, path))
    return f"{scheme}://{authority}{path}"


def quote_path(path: str) -> str:
    """Percent-encode a decoded request path (WSGI gives paths decoded) for :func:`request_uri`."""
    return quote(path, safe="/!$&'()*+,;=:@-._~")


def request_uri(public_url: str | None, base: str, path: str) -> str:
    """The URI a client addressed: ``public_url`` (if configured) or ``base``, then ``path``.

    ``base`` is the scheme and authority the app sees (``http://10.0.0.5:8000``),
    ``path`` the request path, still percent-encoded where the server keeps it so.
    """
    return (public_url or base).rstrip("/") + (path if path.startswith("/") else "/" + path)


def asgi_request_uri(scope: Mapping[str, Any], public_url: str | None) -> str:
    """The URI an ASGI request addressed: ``public_url`` or scheme and Host, then the raw path."""
    raw = scope.get("raw_path")
    path = bytes(raw).decode("latin-1").partition("?")[0] if raw else quote_path(scope["path"])
    scheme = str(scope.get("scheme", "http"))
    scheme = {"ws": "http", "wss": "https"}.get(scheme, scheme)
    hosts = [
        bytes(v).decode("latin-1") for k, v in scope.get("headers", ()) if k.lower() == b"host"
    ]
    if len(hosts) == 1 and hosts[0]:
        host = hosts[0]
    else:
        server = scope.get("server") or ("localhost", None)
        host = server[0] if server[1] is None else f"{server[0]}:{server[1]}"
    return request_uri(public_url, f"{scheme}://{host}", path)
