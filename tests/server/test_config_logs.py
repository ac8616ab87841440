"""Configuration precedence and validation; log redaction and the JSON format."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from keywell.server.config import ServerConfig, config_from_json, config_to_json, load_config
from keywell.server.logs import JSONFormatter, RedactFilter, redact


def test_precedence_defaults_file_env_overrides(tmp_path: Path) -> None:
    file = tmp_path / "keywell.toml"
    file.write_text('[server]\nport = 9000\nhost = "0.0.0.0"\nlog-json = true\n')
    env = {"KEYWELL_PORT": "9100", "KEYWELL_POLL_INTERVAL": "0.25", "KEYWELL_METRICS": "no"}
    cfg = load_config(file=file, env=env, host=None)
    assert (cfg.port, cfg.host, cfg.log_json, cfg.poll_interval, cfg.metrics) == (
        9100,
        "0.0.0.0",
        True,
        0.25,
        False,
    )
    assert cfg.base_url == "http://127.0.0.1:9100"
    assert load_config(file=file, env=env, port=9200).port == 9200
    assert load_config(env={}).database_url == "sqlite:///keywell.db"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"port": 70000}, "port"),
        ({"poll_interval": 0}, "poll_interval"),
        ({"public_url": "ftp://x"}, "public_url"),
        ({"default_keyset": "a/b"}, "default_keyset"),
        ({"server": "gunicorn"}, "server"),
        ({"workers": 0}, "workers"),
        ({"server": "uvicorn", "workers": 2}, "workers"),
    ],
)
def test_invalid_settings_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ServerConfig(**kwargs)  # type: ignore[arg-type]


def test_unknown_settings_and_bad_booleans_are_refused(tmp_path: Path) -> None:
    file = tmp_path / "k.toml"
    file.write_text("colour = 1\n")
    with pytest.raises(ValueError, match="colour"):
        load_config(file=file, env={})
    with pytest.raises(ValueError, match="KEYWELL_LOG_JSON"):
        load_config(env={"KEYWELL_LOG_JSON": "perhaps"})


def test_repr_masks_the_database_password() -> None:
    cfg = ServerConfig(database_url="postgresql+psycopg://kw:hunter2@db/kw")
    assert "hunter2" not in repr(cfg)
    assert "kw:***@db/kw" in repr(cfg)


def test_redaction_of_tokens_and_bearer_secrets() -> None:
    jwt = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJl"
    admin = "kwa_B9XvyblWVBZY2JxNELxI82k7xYkVv673fDwx8BdZZCA"
    text = f"minted {jwt} with Authorization: Bearer abc.def and {admin}"
    out = redact(text)
    assert jwt not in out
    assert "abc.def" not in out
    assert admin not in out
    assert "minted" in out


def test_json_log_lines_are_redacted() -> None:
    record = logging.LogRecord(
        "keywell.test", logging.INFO, __file__, 1, "token %s", ("kwa_AAAAAAAAAAAAAAAA",), None
    )
    record.keyset = "default"
    assert RedactFilter().filter(record)
    line = json.loads(JSONFormatter().format(record))
    assert line["message"] == "token [redacted]"
    assert line["keyset"] == "default"
    assert line["level"] == "info"


def test_server_choice_and_the_worker_config_round_trip() -> None:
    assert load_config(env={}).server == "granian"
    cfg = load_config(
        env={"KEYWELL_SERVER": "uvicorn", "KEYWELL_MAX_STALENESS": "0.5"},
        database_url="postgresql://kw:s3cret@db/kw",
        public_url="https://keys.example",
    )
    assert (cfg.server, cfg.workers) == ("uvicorn", 1)
    assert config_from_json(config_to_json(cfg)) == cfg
    granian = load_config(env={"KEYWELL_WORKERS": "2"})
    assert config_from_json(config_to_json(granian)) == granian
    with pytest.raises(ValueError, match="unknown"):
        config_from_json('{"port": 1, "kek": "x"}')
    with pytest.raises(ValueError, match="JSON object"):
        config_from_json("[1]")
