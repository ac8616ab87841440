"""``make run``: the key server for development on ``127.0.0.1:8080``.

SQLite ``./keywell.db``; a development KEK in ``./keywell.db.kek`` (0600,
created once, with a loud warning); a ``default`` ES256 key set created if
missing; a fresh admin token on every run. A second run reuses the database,
the KEK and the keys. Prints the URLs, the token and a ``curl`` line that
mints a token, then serves until Ctrl-C or SIGTERM, under granian unless
``--server uvicorn`` or ``KEYWELL_SERVER=uvicorn``. granian's workers open
their own Issuer from the environment, so the development KEK reaches them as
``KEYWELL_KEK_FILE`` (this process alone prints the warning about it).
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

from keywell.errors import KeySetNotFoundError
from keywell.server.config import load_config
from keywell.server.runner import serve

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    """Prepare the development database and serve it."""
    parser = argparse.ArgumentParser(prog="python -m keywell.server.devrun", description=__doc__)
    parser.add_argument("--server", choices=("granian", "uvicorn"), default=None)
    args = parser.parse_args(argv)
    from keywell.issuer import Issuer
    from keywell.store.kek import DevelopmentKEKWarning, KEKRing

    db = Path(os.environ.get("KEYWELL_DEV_DB", "keywell.db")).resolve()
    config = load_config(
        database_url=f"sqlite:///{db}",
        host="127.0.0.1",
        port=8080,
        auto_upgrade=True,
        server=args.server,
    )
    keks = KEKRing.from_env()
    if keks is None:
        kek_file = db.with_name(db.name + ".kek")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", DevelopmentKEKWarning)
            keks = KEKRing.development(kek_file)
        for w in caught:
            print(f"WARNING: {w.message}", file=sys.stderr)
        os.environ["KEYWELL_KEK_FILE"] = str(kek_file)  # for the server's worker processes
    issuer = Issuer(config.database_url, keks=keks, auto_upgrade=True)
    base = config.base_url
    try:
        issuer.get_keyset(config.default_keyset)
        created = False
    except KeySetNotFoundError:
        issuer.create_keyset(config.default_keyset, issuer=base, alg="ES256")
        created = True
    token = issuer.create_admin_token(
        ["read", "sign", "rotate", "revoke", "admin"], name="make-run", actor="devrun"
    )
    state = "created" if created else "reused"
    print(
        f"""
keywell development server ({state} {db})
  JWKS:       {base}/.well-known/jwks.json
  discovery:  {base}/keysets/{config.default_keyset}/.well-known/openid-configuration
  admin API:  {base}/admin/v1/openapi.json
  metrics:    {base}/metrics
  admin token (shown once, all scopes):
    {token}
  mint a token:
    curl -s -X POST -H 'Authorization: Bearer {token}' -H 'Content-Type: application/json' \\
      -d '{{"claims": {{"sub": "alice"}}, "ttl": 300}}' \\
      {base}/admin/v1/keysets/{config.default_keyset}/tokens
""",
        flush=True,
    )
    serve(config, issuer=issuer)


if __name__ == "__main__":
    main()
