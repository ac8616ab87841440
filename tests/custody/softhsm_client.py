"""The test's own PKCS#11 client, run in a separate process (``softhsm_client.py CMD ...``).

A second process has its own ``C_Initialize`` and login, as an operator's tool
would; in keywell's process a second login to the same token would share
keywell's session state. The user PIN comes in ``KEYWELL_TEST_PIN`` (never on
the command line); the token directory in ``SOFTHSM2_CONF``. Prints JSON.

Commands::

    held MODULE TOKEN PREFIX            hex CKA_ID -> label of private keys under PREFIX
    delete MODULE TOKEN PREFIX REF      destroy the private and public objects of REF
    inspect MODULE TOKEN PREFIX REF     the private key's protection attributes, and what
                                        happens on reading its value or wrapping it
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import pkcs11
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass

_FLAGS = {
    "token": Attribute.TOKEN,
    "private": Attribute.PRIVATE,
    "sensitive": Attribute.SENSITIVE,
    "extractable": Attribute.EXTRACTABLE,
    "always_sensitive": Attribute.ALWAYS_SENSITIVE,
    "never_extractable": Attribute.NEVER_EXTRACTABLE,
    "sign": Attribute.SIGN,
    "decrypt": Attribute.DECRYPT,
    "unwrap": Attribute.UNWRAP,
}
# The secret parts of each key type: reading any must fail.
_SECRETS = {
    KeyType.RSA: (Attribute.PRIVATE_EXPONENT, Attribute.PRIME_1, Attribute.PRIME_2),
    KeyType.EC: (Attribute.VALUE,),
    KeyType.EC_EDWARDS: (Attribute.VALUE,),
}


def _objects(session: Any, prefix: str, cls: ObjectClass, ident: bytes | None = None) -> list[Any]:
    query: dict[Attribute, Any] = {Attribute.CLASS: cls}
    if ident is not None:
        query[Attribute.ID] = ident
    return [o for o in session.get_objects(query) if str(o[Attribute.LABEL]).startswith(prefix)]


def _outcome(call: Any) -> str:
    try:
        call()
    except pkcs11.PKCS11Error as exc:
        return type(exc).__name__
    return "allowed"


def _inspect(session: Any, prefix: str, ident: bytes) -> dict[str, Any]:
    (key,) = _objects(session, prefix, ObjectClass.PRIVATE_KEY, ident)
    out: dict[str, Any] = {name: bool(key[attr]) for name, attr in _FLAGS.items()}
    key_type = key[Attribute.KEY_TYPE]
    out["read_secret"] = sorted({_outcome(lambda a=attr: key[a]) for attr in _SECRETS[key_type]})
    wrapper = session.generate_key(KeyType.AES, 256, store=False)
    out["wrap"] = _outcome(lambda: wrapper.wrap_key(key, mechanism=Mechanism.AES_KEY_WRAP_PAD))
    out["make_extractable"] = _outcome(lambda: key.__setitem__(Attribute.EXTRACTABLE, True))
    out["make_insensitive"] = _outcome(lambda: key.__setitem__(Attribute.SENSITIVE, False))
    out["extractable_after"] = bool(key[Attribute.EXTRACTABLE])
    return out


def main(argv: list[str]) -> None:
    command, module, token_label, prefix, *rest = argv
    lib = pkcs11.lib(module)
    token = lib.get_token(token_label=token_label)
    with token.open(rw=True, user_pin=os.environ["KEYWELL_TEST_PIN"]) as session:
        if command == "held":
            keys = _objects(session, prefix, ObjectClass.PRIVATE_KEY)
            result: Any = {bytes(o[Attribute.ID]).hex(): str(o[Attribute.LABEL]) for o in keys}
        elif command == "delete":
            ident = bytes.fromhex(rest[0])
            for cls in (ObjectClass.PRIVATE_KEY, ObjectClass.PUBLIC_KEY):
                for obj in _objects(session, prefix, cls, ident):
                    obj.destroy()
            result = "deleted"
        elif command == "inspect":
            result = _inspect(session, prefix, bytes.fromhex(rest[0]))
        else:
            raise SystemExit(f"unknown command {command!r}")
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
