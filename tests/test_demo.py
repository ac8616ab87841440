"""``python -m keywell.demo``: the 30-second tour of keywell.jose stays runnable."""

from __future__ import annotations

import json
import subprocess
import sys


def test_demo_signs_verifies_and_refuses_a_tampered_token() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "keywell.demo"], capture_output=True, text=True, check=True
    ).stdout
    published = json.loads(out.split("\n\n")[0].split(":", 1)[1])
    assert [k["kty"] for k in published["keys"]] == ["EC"]
    assert "d" not in published["keys"][0]
    assert "Verified claims: {'iss': 'https://issuer.example'" in out
    assert "Tampered token refused: InvalidSignatureError [KW_INVALID_SIGNATURE]" in out
