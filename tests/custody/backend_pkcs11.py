"""The ``pkcs11_backend`` fixture: a real SoftHSM2 with fresh tokens for one test session.

SoftHSM2 reads ``SOFTHSM2_CONF`` when the module is initialised, and sees
only the tokens that exist then, so the fixture writes its own config (a token
directory under the session's tmp dir) and makes its tokens before keywell
loads the module:

- ``keywell``: the token the contract suite uses; each :meth:`SoftHSM.fresh_uri`
  is a new ``object-prefix`` on it;
- ``keywell-spare``: never logged into with its right PIN, so a wrong PIN
  reaches ``C_Login`` (on ``keywell`` keywell refuses a wrong PIN itself, the
  token being logged in already).

:meth:`SoftHSM.down` moves the token directory away, which is what an
unplugged HSM looks like to a PKCS#11 application: every call on the token
fails (``CKR_GENERAL_ERROR``) and it is listed no more; when the directory
comes back, SoftHSM2 (like most modules) only sees it after
``C_Finalize``/``C_Initialize``, which keywell does on its own.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from keywell.custody.base import key_name_time
from keywell.custody.uri import parse_custody

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
TOKEN = "keywell"
SPARE = "keywell-spare"
_CLIENT = Path(__file__).with_name("softhsm_client.py")


@dataclass
class SoftHSM:
    """A SoftHSM2 token directory with the ``keywell`` and ``keywell-spare`` tokens."""

    root: Path
    pin_file: Path
    wrong_pin_file: Path
    spare_pin: str
    scheme: str = "pkcs11"
    _count: int = field(default=0)

    @property
    def tokens(self) -> Path:
        return self.root / "tokens"

    def uri(self, prefix: str, *, token: str = TOKEN, pin_file: Path | None = None) -> str:
        """A custody URI for ``prefix`` on ``token`` (the right PIN unless told)."""
        pin = pin_file or self.pin_file
        return (
            f"pkcs11:token={token};object-prefix={prefix}"
            f"?module-path={MODULE}&pin-source=file:{pin}"
        )

    def fresh_uri(self) -> str:
        """A new ``object-prefix`` on the ``keywell`` token: an empty namespace."""
        self._count += 1
        return self.uri(f"t{self._count}-{secrets.token_hex(3)}-")

    def wrong_credential_uri(self) -> str:
        """The ``keywell`` token with a PIN it does not have."""
        return self.uri("wrong-", pin_file=self.wrong_pin_file)

    @contextmanager
    def down(self) -> Iterator[None]:
        """The token directory moved away (an HSM unplugged), then put back."""
        away = self.root / "tokens.unplugged"
        self.tokens.rename(away)
        try:
            yield
        finally:
            away.rename(self.tokens)

    def client(self, uri: str, command: str, *args: str) -> Any:
        """Run the test's own PKCS#11 client in another process; its JSON answer."""
        spec = parse_custody(uri)
        env = {**os.environ, "KEYWELL_TEST_PIN": self.pin_file.read_text().strip()}
        out = subprocess.run(
            [
                sys.executable,
                str(_CLIENT),
                command,
                MODULE,
                spec.attrs["token"],
                spec.attrs.get("object-prefix", ""),
                *args,
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return json.loads(out.stdout)

    def delete_out_of_band(self, uri: str, ref: str) -> None:
        """Destroy ``ref``'s objects with the test's own client."""
        self.client(uri, "delete", ref)

    def held(self, uri: str, keyset: str) -> set[str]:
        """Refs of the private keys of ``keyset`` under ``uri``'s prefix, by the test's client."""
        prefix = parse_custody(uri).attrs.get("object-prefix", "")
        labels: dict[str, str] = self.client(uri, "held")
        return {
            ref
            for ref, label in labels.items()
            if key_name_time(label[len(prefix) :], keyset) is not None
        }

    def inspect(self, uri: str, ref: str) -> dict[str, Any]:
        """The private key's protection attributes and export attempts (softhsm_client)."""
        found: dict[str, Any] = self.client(uri, "inspect", ref)
        return found


def _init_token(label: str, pin: str, env: dict[str, str]) -> None:
    subprocess.run(
        [
            "softhsm2-util",
            "--init-token",
            "--free",
            "--label",
            label,
            "--so-pin",
            secrets.token_hex(8),
            "--pin",
            pin,
        ],
        env=env,
        capture_output=True,
        check=True,
        timeout=60,
    )


@pytest.fixture(scope="session")
def pkcs11_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SoftHSM]:
    """A SoftHSM2 with fresh tokens; ``SOFTHSM2_CONF`` points at it for the session."""
    if shutil.which("softhsm2-util") is None or not Path(MODULE).exists():
        pytest.fail("SoftHSM2 is missing: apt-get install softhsm2 (make sysdeps)")
    root = tmp_path_factory.mktemp("softhsm")
    (root / "tokens").mkdir()
    conf = root / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {root / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n"
    )
    pin, spare_pin = secrets.token_hex(8), secrets.token_hex(8)
    pin_file, wrong = root / "pin", root / "wrong-pin"
    pin_file.write_text(pin + "\n")
    wrong.write_text(secrets.token_hex(8) + "\n")
    env = {**os.environ, "SOFTHSM2_CONF": str(conf)}
    _init_token(TOKEN, pin, env)
    _init_token(SPARE, spare_pin, env)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SOFTHSM2_CONF", str(conf))
        yield SoftHSM(root, pin_file, wrong, spare_pin)
