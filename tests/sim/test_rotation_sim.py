"""The rotation and fault simulation, shortened: 3 replicas on PostgreSQL behind HAProxy.

``sim/rotation.py --duration 30`` runs the same faults as ``make sim`` (SIGKILL
and restart, SIGSTOP longer than the max-age, pg_terminate_backend, one
emergency revocation); this test asserts the zeros from its JSON summary, with
the keys sealed in the database and with the keys in Transit (``--custody
transit``, an OpenBao dev server). The
classifier itself is checked first on hand-made records, so the zeros cannot
come from a check that never fires.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sim.analysis import Key, active_overlap, classify

ROOT = Path(__file__).resolve().parents[2]


def _key(kid: str, **times: float | None) -> Key:
    base: dict[str, float | None] = {
        "published_at": 100.0,
        "activated_at": None,
        "retired_at": None,
        "expires_at": None,
        "revoked_at": None,
    }
    base.update(times)
    return Key(kid=kid, state="x", created_at=100.0, **base)  # type: ignore[arg-type]


def test_classifier_flags_defects_and_excuses_correct_behaviour() -> None:
    keys = {
        "old": _key("old", activated_at=100.0),
        "new": _key("new", published_at=200.0),
        "gone": _key("gone", activated_at=100.0, revoked_at=150.0),
    }
    tokens = {
        1: [1, "old", 190, 204, 0, 0, "r1"],
        2: [2, "new", 200, 204, 0, 0, "r1"],
        3: [3, "gone", 148, 152, 0, 0, "r1"],
    }
    fetches = [[110.0, 110.01, 200, '"e1"', ["old", "gone"], "r1"]]
    records = [
        [1, 201.0, 201.001, "KW_NO_MATCHING_KEY"],  # published 101 s before: false rejection
        [1, 204.5, 204.6, "KW_TOKEN_EXPIRED"],  # expired: correct
        [2, 200.5, 200.51, "KW_NO_MATCHING_KEY"],  # published 0.5 s before: excused
        [3, 150.5, 150.51, "ok"],  # within max_age + one fetch of the revocation
        [3, 151.2, 151.21, "ok"],  # after it: late acceptance
        [3, 151.3, 151.31, "KW_NO_MATCHING_KEY"],  # revoked: correct refusal
    ]
    verifier = {"name": "v", "kind": "sync", "records": records, "fetches": fetches}
    result = classify(keys, tokens, [verifier], max_age=1.0)
    assert result["verifications"] == 6
    assert result["false_rejections"] == 1
    assert result["false_rejection_examples"][0]["tid"] == 1
    assert result["late_acceptances"] == 1
    assert result["late_acceptance_examples"][0]["t0"] == 151.2
    assert result["late_acceptances_client"] == 1  # its document was fetched before revocation
    # measured from the time the revoke call returned (150.25): 151.2 is within the bound
    returned = classify(keys, tokens, [verifier], max_age=1.0, revoke_returned={"gone": 150.25})
    assert returned["late_acceptances"] == 0
    assert returned["accepted_after_db_revoked_at"] == 1
    assert result["refusals"]["key revoked"] == 1
    assert result["refusals"]["key published less than max_age + one fetch before"] == 1


def test_active_overlap_counts_instants_after_all_changes() -> None:
    rotation = [
        _key("a", activated_at=0.0, retired_at=5.0),
        _key("b", activated_at=5.0, revoked_at=7.0),
        _key("c", activated_at=7.0),
    ]
    assert active_overlap(rotation, end=10.0) == (1, 1)
    overlap = [*rotation, _key("d", activated_at=6.0, retired_at=6.5)]
    assert active_overlap(overlap, end=10.0) == (2, 1)
    gap = [_key("a", activated_at=0.0, retired_at=5.0), _key("b", activated_at=5.5)]
    assert active_overlap(gap, end=10.0) == (1, 0)


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.parametrize("custody", ["db", "transit"])
def test_shortened_simulation_keeps_every_valid_token_valid(tmp_path: Path, custody: str) -> None:
    assert shutil.which("haproxy") or Path("/usr/sbin/haproxy").exists(), (
        "HAProxy is required (apt-get install -y haproxy)"
    )
    out = tmp_path / "sim"
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "sim" / "rotation.py"),
            *("--duration", "30", "--out", str(out), "--custody", custody),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    summary_file = out / "summary.json"
    assert summary_file.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    s = json.loads(summary_file.read_text())
    v = s["verification"]
    assert v["false_rejections"] == 0, v["false_rejection_examples"]
    # strict: no acceptance later than (revoke call returned) + jwks_max_age + one fetch
    assert v["late_acceptances"] == 0, v["late_acceptance_examples"]
    assert v["expired_acceptances"] == 0, v["expired_acceptance_examples"]
    assert s["active_keys"]["max"] == 1
    assert s["active_keys"]["table_min"] == 1
    assert s["active_keys"]["timeline_min"] == 1
    assert s["rotations"]["performed"] == s["rotations"]["due"] >= 4
    # the run did what it claims: load, every fault, and a revocation that verifiers obeyed
    # volume is not a speed target here (make sim reports it); the run must have done work
    assert s["tokens_minted"] > 0
    assert v["verifications"] >= s["tokens_minted"]
    kinds = [f["kind"] for f in s["faults"]]
    for kind in ("SIGKILL", "restart", "SIGSTOP", "SIGCONT", "pg_terminate_backend", "revoke"):
        assert kind in kinds
    assert [c["status"] for c in s["revocation_calls"]] == [200]
    assert v["refusals"].get("key revoked", 0) > 0
    call = s["revocation_calls"][0]
    assert call["end"] >= call["committed"]  # the call returned after its commit
    assert proc.returncode == (0 if s["pass"] else 1), proc.stderr[-3000:]
    # Transit: every key the store names is in Transit (keys no row names: reported only)
    assert s["custody"]["custody"] == custody
    if custody == "transit":
        assert s["custody"]["missing"] == []
        assert s["custody"]["store_refs"] >= 2  # the active key and its successor at least
    assert (out / "timeline.png").stat().st_size > 10_000
    assert "false rejections" in (out / "summary.md").read_text()
