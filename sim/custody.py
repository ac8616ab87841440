"""The simulation's key custody: ``db`` (sealed in PostgreSQL) or Transit on OpenBao.

With ``--custody transit`` an OpenBao dev server runs on loopback for the whole
run, the key set is created with a ``transit://`` custody URI, and at the end
the keys Transit holds for the set are compared with those the store names
(``keywell_keys.custody_ref``): a key the store names that Transit lost
(*missing*) fails the run; a key Transit holds that no row names (*unnamed*:
made for a transition another replica performed, or by a replica killed
before its commit, and not yet destroyed) is reported.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg

from keywell.custody.base import key_name_time
from sim.openbao import OpenBaoDev

CHOICES = ("db", "transit")
MOUNT = "transit"


class TransitBackend:
    """OpenBao dev with a Transit mount; :attr:`uri` is the key set's custody."""

    def __init__(self, workdir: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.bao = OpenBaoDev(workdir)
        self.bao.enable_transit(MOUNT)
        self.uri = (
            f"transit://127.0.0.1:{self.bao.port}/{MOUNT}?token-file={self.bao.token_file}"
            "&timeout=5"
        )

    def held(self, keyset: str) -> set[str]:
        """The Transit keys of ``keyset``, listed with the root token."""
        client = self.bao.client()
        try:
            names = client.secrets.transit.list_keys(mount_point=MOUNT)["data"]["keys"]
        except Exception:  # 404: the mount holds no key
            names = []
        finally:
            client.adapter.close()
        return {n for n in names if key_name_time(n, keyset) is not None}

    def report(self, dsn: str, keyset: str) -> dict[str, Any]:
        """Transit's keys for ``keyset`` against the refs the store names."""
        with psycopg.connect(dsn, connect_timeout=5) as conn:
            rows = conn.execute(
                "SELECT k.custody_ref FROM keywell_keys k JOIN keywell_keysets s "
                "ON s.id = k.keyset_id WHERE s.name = %s AND k.custody_ref IS NOT NULL",
                (keyset,),
            ).fetchall()
        named = {ref for (ref,) in rows}
        held = self.held(keyset)
        return {
            "custody": "transit",
            "uri": self.uri,
            "backend_keys": len(held),
            "store_refs": len(named),
            "missing": sorted(named - held),
            "unnamed": sorted(held - named),
        }

    def close(self) -> None:
        """Stop the server (its keys are in memory only)."""
        self.bao.stop()


def open_backend(custody: str, workdir: Path) -> TransitBackend | None:
    """The backend a run's ``--custody`` names (``None`` for ``db``)."""
    return TransitBackend(workdir / "openbao") if custody == "transit" else None
