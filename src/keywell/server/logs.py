"""Structured logging for the key server: key=value or one JSON object per line.

Nothing the server logs carries key material or tokens: handlers log names,
kids, states and counts only. As a second line of defence :class:`RedactFilter`
masks anything shaped like a compact JWS/JWE, an admin token (``kwa_...``) or a
bearer credential before a
record is formatted, whichever library emitted it.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "JSONFormatter",
    "KeyValueFormatter",
    "RedactFilter",
    "configure_logging",
    "granian_log_config",
    "log_event",
    "redact",
]

_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*){0,2}")
_BEARER = re.compile(r"(?i)(bearer\s+)[^\s\"',]+")
_ADMIN = re.compile(r"kwa_[A-Za-z0-9_-]{8,}")
_MASK = "[redacted]"

_RESERVED = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys()
    | {"message", "asctime", "color_message"}
)


def redact(text: str) -> str:
    """Mask JWT-shaped strings and bearer credentials in ``text``."""
    return _ADMIN.sub(_MASK, _BEARER.sub(r"\1" + _MASK, _JWT.sub(_MASK, text)))


class RedactFilter(logging.Filter):
    """Rewrite a record's message so no token or bearer secret reaches a handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Render the message once, redacted, and drop the arguments."""
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        return True


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _RESERVED and not k.startswith("_")}


class JSONFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the record's extras."""

    def format(self, record: logging.LogRecord) -> str:
        """Format ``record`` as compact JSON."""
        doc: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in _extras(record).items():
            doc[key] = value if isinstance(value, str | int | float | bool | None) else str(value)
        if record.exc_info and record.exc_info[0] is not None:
            doc["exc_type"] = record.exc_info[0].__name__
        return json.dumps(doc, separators=(",", ":"), default=str)


class KeyValueFormatter(logging.Formatter):
    """``time level logger message key=value ...`` for humans."""

    def format(self, record: logging.LogRecord) -> str:
        """Format ``record`` on one line."""
        stamp = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        extras = " ".join(f"{k}={v}" for k, v in _extras(record).items())
        line = f"{stamp} {record.levelname:<7} {record.name}: {record.getMessage()}"
        return f"{line} {extras}" if extras else line


_SERVER_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "_granian", "granian.access")


def configure_logging(*, json_output: bool = False, level: str = "INFO") -> None:
    """Install one redacting stderr handler on the root logger (uvicorn and granian use it)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JSONFormatter() if json_output else KeyValueFormatter())
    handler.addFilter(RedactFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in _SERVER_LOGGERS:
        lg = logging.getLogger(name)
        lg.handlers[:] = []
        lg.propagate = True


def granian_log_config(*, json_output: bool = False, level: str = "INFO") -> dict[str, Any]:
    """The ``logging.config.dictConfig`` granian applies in its main and worker processes.

    The same handler as :func:`configure_logging` (stderr, redacted, key=value or
    JSON) on the root logger; granian's own loggers (``_granian``, and
    ``granian.access``, which keywell leaves off) have no handler of their own
    and propagate to it, so every process logs in one format.
    """
    formatter = "JSONFormatter" if json_output else "KeyValueFormatter"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"keywell": {"()": f"{__name__}.{formatter}"}},
        "filters": {"redact": {"()": f"{__name__}.RedactFilter"}},
        "handlers": {
            "keywell": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "keywell",
                "filters": ["redact"],
            }
        },
        "loggers": {
            name: {"handlers": [], "propagate": True} for name in ("_granian", "granian.access")
        },
        "root": {"handlers": ["keywell"], "level": level.upper()},
    }


def log_event(logger: logging.Logger, event: str, **fields: Any) -> None:
    """Log ``event`` at INFO with ``fields`` as structured extras (never pass secrets)."""
    logger.info(event, extra={"event": event, **fields})
