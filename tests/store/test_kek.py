"""KEKRing: sealing with the row's identity as associated data, configuration, dev mode."""

from __future__ import annotations

import logging
import os
import secrets
import stat
from pathlib import Path

import pytest

from keywell.errors import KEKError
from keywell.jose.base64url import b64url_encode
from keywell.store.kek import DevelopmentKEKWarning, KEKRing


def test_seal_and_open_round_trip_under_the_newest_kek() -> None:
    ring = KEKRing([("old", secrets.token_bytes(32)), ("new", secrets.token_bytes(32))])
    kek_id, blob = ring.seal(b"secret jwk", keyset="main", kid="k1", kek_id="new")
    assert kek_id == "new" == ring.newest
    assert b"secret jwk" not in blob
    assert ring.open(blob, kek_id=kek_id, keyset="main", kid="k1") == b"secret jwk"


@pytest.mark.parametrize(
    ("keyset", "kid", "kek_id"), [("other", "k1", "a"), ("main", "k2", "a"), ("main", "k1", "b")]
)
def test_a_ciphertext_moved_to_another_row_or_kek_id_fails(
    keyset: str, kid: str, kek_id: str
) -> None:
    key = secrets.token_bytes(32)
    ring = KEKRing([(kek_id, key)])  # the same key under the id tried: only the AAD differs
    blob = KEKRing([("a", key)]).seal(b"x", keyset="main", kid="k1", kek_id="a")[1]
    with pytest.raises(KEKError) as info:
        ring.open(blob, kek_id=kek_id, keyset=keyset, kid=kid)
    assert info.value.kek_id == kek_id


def test_a_missing_kek_names_the_id_needed() -> None:
    blob = KEKRing([("gone", secrets.token_bytes(32))]).seal(
        b"x", keyset="s", kid="k", kek_id="gone"
    )[1]
    with pytest.raises(KEKError) as info:
        KEKRing.generate().open(blob, kek_id="gone", keyset="s", kid="k")
    assert info.value.kek_id == "gone"
    assert "gone" in str(info.value)
    assert info.value.code == "KW_KEK"


def test_environment_configuration_forms(tmp_path: Path) -> None:
    k1, k2, k3 = (secrets.token_bytes(32) for _ in range(3))
    file = tmp_path / "kek"
    file.write_text(f"# comment\nf1:{b64url_encode(k1)}\n")
    ring = KEKRing.from_env(
        {
            "KEYWELL_KEK_FILE": str(file),
            "KEYWELL_KEKS": f"m1:{b64url_encode(k2)}",
            "KEYWELL_KEK": b64url_encode(k3),
            "KEYWELL_KEK_ID": "main",
        }
    )
    assert ring is not None
    assert ring.ids == ("f1", "m1", "main")
    assert ring.newest == "main"
    assert KEKRing.from_env({}) is None
    derived = KEKRing.from_env({"KEYWELL_KEK": b64url_encode(k3)})
    assert derived is not None
    assert derived.newest == KEKRing.from_env({"KEYWELL_KEK": b64url_encode(k3)}).newest  # type: ignore[union-attr]


@pytest.mark.parametrize("value", ["not base64!", b64url_encode(b"short")])
def test_a_malformed_kek_is_a_typed_error(value: str) -> None:
    with pytest.raises(KEKError):
        KEKRing.from_env({"KEYWELL_KEK": value})


def test_an_unreadable_kek_file_is_a_typed_error(tmp_path: Path) -> None:
    with pytest.raises(KEKError):
        KEKRing.from_env({"KEYWELL_KEK_FILE": str(tmp_path / "missing")})


def test_development_kek_file_is_0600_reused_and_warned_about(tmp_path: Path) -> None:
    path = tmp_path / "keywell.db.kek"
    with pytest.warns(DevelopmentKEKWarning, match="DEVELOPMENT KEK"):
        first = KEKRing.development(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with pytest.warns(DevelopmentKEKWarning):
        second = KEKRing.development(path)
    assert first.newest == second.newest
    blob = first.seal(b"x", keyset="s", kid="k", kek_id=first.newest)[1]
    assert second.open(blob, kek_id=first.newest, keyset="s", kid="k") == b"x"


def test_repr_shows_ids_not_keys() -> None:
    key = secrets.token_bytes(32)
    text = repr(KEKRing([("main", key)]))
    assert "main" in text
    assert b64url_encode(key) not in text
    assert key.hex() not in text


def test_misuse_is_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="at least one"):
        KEKRing([])
    with pytest.raises(ValueError, match="32 bytes"):
        KEKRing([("a", b"short")])
    with pytest.raises(ValueError, match="id"):
        KEKRing([("a:b", secrets.token_bytes(32))])


GOOD_KEY = b64url_encode(secrets.token_bytes(32))
# 42 of the 43 characters of bytes(range(32)): its last character leaves non-zero
# trailing bits, so the text is not canonical base64url whatever the run (a random
# key's truncation decodes to 31 bytes in 1 run of 16).
TRUNCATED_TEXT = b64url_encode(bytes(range(32)))[:-1]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"KEYWELL_KEK": ""}, "KEYWELL_KEK is set but empty"),
        ({"KEYWELL_KEK": "  \n"}, "KEYWELL_KEK is set but empty"),
        ({"KEYWELL_KEKS": ""}, "KEYWELL_KEKS is set but empty"),
        ({"KEYWELL_KEKS": ",, ,"}, "KEYWELL_KEKS is set but holds no KEK"),
        ({"KEYWELL_KEK_FILE": ""}, "KEYWELL_KEK_FILE is set but empty"),
        ({"KEYWELL_KEK": GOOD_KEY, "KEYWELL_KEK_ID": ""}, "KEYWELL_KEK_ID is set but empty"),
        ({"KEYWELL_KEKS": f":{GOOD_KEY}"}, "entry 1: a KEK id is 1-100"),
        ({"KEYWELL_KEKS": "a:"}, "must be 32 bytes, got 0"),
        ({"KEYWELL_KEK": TRUNCATED_TEXT}, "not base64url"),  # truncated text
        ({"KEYWELL_KEK": GOOD_KEY[:-3]}, "must be 32 bytes, got 30"),  # truncated key
        ({"KEYWELL_KEK": b64url_encode(bytes(31))}, "must be 32 bytes, got 31"),
        (
            {"KEYWELL_KEKS": f"a:{GOOD_KEY},a:{b64url_encode(secrets.token_bytes(32))}"},
            "'a' is configured twice with different keys",
        ),
    ],
)
def test_an_empty_or_ambiguous_kek_variable_is_an_error_not_absent(
    env: dict[str, str], message: str
) -> None:
    with pytest.raises(KEKError, match=message) as info:
        KEKRing.from_env(env)
    assert GOOD_KEY not in str(info.value)


def test_an_empty_kek_file_is_an_error(tmp_path: Path) -> None:
    empty = tmp_path / "kek"
    empty.write_text("# nothing here\n\n")
    with pytest.raises(KEKError, match="holds no KEK"):
        KEKRing.from_env({"KEYWELL_KEK_FILE": str(empty)})
    with pytest.warns(DevelopmentKEKWarning), pytest.raises(KEKError, match="holds no KEK"):
        KEKRing.development(empty)  # a development file left empty is not "no KEK"


def test_an_exact_repeat_is_one_kek() -> None:
    ring = KEKRing.from_env({"KEYWELL_KEKS": f"a:{GOOD_KEY}", "KEYWELL_KEK": f"a:{GOOD_KEY}"})
    assert ring is not None
    assert ring.ids == ("a",)
    with pytest.raises(ValueError, match="twice"):
        KEKRing([("a", secrets.token_bytes(32)), ("a", secrets.token_bytes(32))])


@pytest.mark.parametrize("blob", [b"", b"\0" * 11, b"\0" * 27])
def test_a_truncated_ciphertext_is_a_typed_error(blob: bytes) -> None:
    ring = KEKRing.generate("a")
    with pytest.raises(KEKError):
        ring.open(blob, kek_id="a", keyset="s", kid="k")
    assert not ring.matches_check("a", blob)


def test_check_values_bind_the_id_and_the_key() -> None:
    key = secrets.token_bytes(32)
    ring = KEKRing([("a", key)])
    check = ring.check_value("a")
    assert ring.matches_check("a", check)
    assert not KEKRing([("b", key)]).matches_check("b", check)  # same key, other id
    assert not KEKRing([("a", secrets.token_bytes(32))]).matches_check("a", check)
    assert not KEKRing.generate("c").matches_check("a", check)  # id not held
    assert check != ring.check_value("a")  # a fresh nonce each time
    assert key not in check


BAD_IDS = ["a b", "a\0b", "x" * 101, "caf\u00e9", "a\tb"]


@pytest.mark.parametrize("kek_id", BAD_IDS)
def test_a_kek_id_the_store_could_not_hold_is_refused_everywhere(kek_id: str) -> None:
    with pytest.raises(ValueError, match="KEK id is 1-100"):
        KEKRing([(kek_id, secrets.token_bytes(32))])
    for env in (
        {"KEYWELL_KEK": GOOD_KEY, "KEYWELL_KEK_ID": kek_id},
        {"KEYWELL_KEKS": f"{kek_id}:{GOOD_KEY}"},
    ):
        with pytest.raises(KEKError, match="KEK id is 1-100") as info:
            KEKRing.from_env(env)
        assert kek_id not in str(info.value)  # position, not text: it may be a misplaced key


def test_a_key_put_where_the_id_goes_is_not_echoed() -> None:
    with pytest.raises(KEKError) as info:
        KEKRing.from_env({"KEYWELL_KEKS": f"{GOOD_KEY}:main"})  # id and key swapped
    assert GOOD_KEY not in str(info.value)
    assert "KEYWELL_KEKS entry 1" in str(info.value)


def test_a_kek_file_is_read_bounded_and_its_mode_is_checked(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    for path in ("/dev/zero", str(tmp_path / "big")):
        if not path.startswith("/dev/"):
            Path(path).write_text("# padding\n" * 7000 + f"a:{GOOD_KEY}\n")
        with pytest.raises(KEKError, match="larger than 65536 bytes"):
            KEKRing.from_env({"KEYWELL_KEK_FILE": path})
    binary = tmp_path / "binary"
    binary.write_bytes(b"\xff\xfe" * 10)
    with pytest.raises(KEKError, match="not ASCII text"):
        KEKRing.from_env({"KEYWELL_KEK_FILE": str(binary)})
    loose, tight = tmp_path / "loose", tmp_path / "tight"
    for file, mode in ((loose, 0o644), (tight, 0o600)):
        file.write_text(f"a:{GOOD_KEY}\n")
        file.chmod(mode)
    with caplog.at_level(logging.WARNING, logger="keywell.kek"):
        assert KEKRing.from_env({"KEYWELL_KEK_FILE": str(tight)}) is not None
        assert not caplog.records
        assert KEKRing.from_env({"KEYWELL_KEK_FILE": str(loose)}) is not None
    assert "readable by group or others (mode 644)" in caplog.text
    assert GOOD_KEY not in caplog.text
