"""AWS KMS custody: asymmetric KMS keys (``KeyUsage=SIGN_VERIFY``) that never leave KMS.

URI: ``awskms:region=R?endpoint=URL&profile=P&timeout=S`` (extra ``keywell[awskms]``).
Credentials come from boto3's standard chain (environment, shared credentials
file or ``profile``, instance role), never from the URI. ``endpoint`` (an
``https`` URL, or plain ``http`` to a loopback host only, as for moto) replaces
the regional endpoint.

Keys (AWS KMS Developer Guide, "Asymmetric key specs"): RS*/PS* as ``RSA_2048``,
``RSA_3072`` or ``RSA_4096``; ES256/ES384/ES512 as ``ECC_NIST_P256``/``P384``/
``P521``. Each key carries the tags ``keywell-keyset`` (the set) and
``keywell-key`` (its :func:`~keywell.custody.base.key_name`: aliases cannot
hold a ``.``); its reference is the key ID (the region is the URI's, the
account the credential's).

Signing (RFC 7515 section 5.1) sends the JWS signing input with
``MessageType=RAW`` when it fits KMS's 4096-byte limit (KMS hashes it), and
its hash computed here with ``MessageType=DIGEST`` beyond that limit; real KMS
gives the same signature either way. PSS uses a salt as long as the hash, as
KMS does and RFC 7518 section 3.5 requires; ECDSA's DER signature becomes
JOSE's ``r || s`` (RFC 7518 section 3.4).

Destroying schedules deletion with KMS's minimum window (7 days): KMS refuses
``Sign`` with the key at once, and deletes it when the window ends.

Each call makes at most two attempts of ``timeout / 2`` seconds each in total
(connecting, sending and reading the whole answer, of at most
:data:`~keywell.custody.bounded_http.MAX_ANSWER` bytes: botocore's own timeouts
bound each socket read only, so requests go through
:mod:`keywell.custody.awskms_http`), and a call ends within ``timeout`` plus one
retry back-off (under a second). A CA bundle named by ``AWS_CA_BUNDLE`` or the
profile's ``ca_bundle`` is honoured; proxies configured for botocore are not.

Every botocore error becomes a :class:`~keywell.errors.CustodyError` naming the
AWS error code, never a credential or the service's message text; it is not
chained to botocore's exception, whose message can quote the request's
credential scope.
"""

from __future__ import annotations

import contextlib
from typing import Any
from urllib.parse import urlsplit

import boto3
import botocore.session
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    NoCredentialsError,
    ProfileNotFound,
    ReadTimeoutError,
)
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import load_der_public_key

from keywell.custody.awskms_http import AnswerTooLargeError, BoundedSender
from keywell.custody.base import (
    Custody,
    CustodyKey,
    SignFn,
    ecdsa_der_to_jose,
    key_name,
    key_name_time,
    public_jwk,
)
from keywell.custody.bounded_http import MAX_ANSWER
from keywell.custody.uri import CustodySpec
from keywell.errors import CustodyError
from keywell.jose.algorithms import digest_of
from keywell.lifecycle.names import is_loopback

__all__ = ["MAX_RAW_MESSAGE", "AWSKMSCustody"]

#: The longest ``Message`` KMS signs with ``MessageType=RAW`` (bytes).
MAX_RAW_MESSAGE = 4096
#: KMS's shortest deletion window (days); the key cannot sign from the moment it is scheduled.
DELETION_WINDOW_DAYS = 7
#: Connections kept open to KMS: more than the server's signing threads, so none waits.
MAX_CONNECTIONS = 64
TAG_KEYSET = "keywell-keyset"
TAG_KEY = "keywell-key"

_SHA2 = ("256", "384", "512")
_SIGNING = {
    **{f"RS{n}": f"RSASSA_PKCS1_V1_5_SHA_{n}" for n in _SHA2},
    **{f"PS{n}": f"RSASSA_PSS_SHA_{n}" for n in _SHA2},
    **{f"ES{n}": f"ECDSA_SHA_{n}" for n in _SHA2},
}
_EC_SPECS = {"ES256": "ECC_NIST_P256", "ES384": "ECC_NIST_P384", "ES512": "ECC_NIST_P521"}
_RSA_BITS = frozenset({2048, 3072, 4096})
# States in which a key still exists as far as keywell is concerned (not scheduled for deletion).
_HELD_STATES = frozenset({"Enabled", "Disabled", "Creating", "Unavailable", "Updating"})
# Answers to ScheduleKeyDeletion meaning "already pending or gone".
_GONE = frozenset({"NotFoundException", "KMSInvalidStateException"})


class AWSKMSCustody(Custody):
    """Keys in AWS KMS (or an endpoint speaking its API, such as moto); thread-safe."""

    scheme = "awskms"
    algorithms = frozenset(_SIGNING)

    def __init__(
        self, uri: str, *, timeout: float, client: Any, sender: BoundedSender | None = None
    ) -> None:
        super().__init__(uri, timeout=timeout)
        self._client = client
        self._sender = sender

    @classmethod
    def from_spec(cls, spec: CustodySpec) -> AWSKMSCustody:
        """Open a KMS client for ``spec`` (no call is made to KMS).

        Raises:
            CustodyError: (operation ``open``) the endpoint is not https and
                not on loopback, or the named profile does not exist.
        """
        endpoint = spec.query.get("endpoint")
        if endpoint is not None:
            _check_endpoint(endpoint)
        half = spec.timeout / 2
        config = Config(
            connect_timeout=half,
            read_timeout=half,
            retries={"total_max_attempts": 2, "mode": "standard"},
            max_pool_connections=MAX_CONNECTIONS,
            user_agent_extra="keywell",
        )
        try:
            core = botocore.session.Session(profile=spec.query.get("profile"))
            session = boto3.session.Session(botocore_session=core, region_name=spec.attrs["region"])
            client = session.client("kms", endpoint_url=endpoint, config=config)
            bundle = core.get_config_variable("ca_bundle")
        except (BotoCoreError, ValueError) as exc:
            raise _error("open", _describe(exc, spec.timeout)) from None
        sender = BoundedSender(
            deadline=half, pool_maxsize=MAX_CONNECTIONS, verify=str(bundle) if bundle else True
        )
        sender.register(client)
        return cls(spec.uri, timeout=spec.timeout, client=client, sender=sender)

    def _call(self, operation: str, method: str, **params: Any) -> Any:
        try:
            return getattr(self._client, method)(**params)
        except ClientError as exc:
            raise self.error(operation, _client_error(exc)) from None
        except BotoCoreError as exc:
            raise self.error(operation, _describe(exc, self.timeout / 2)) from None

    def generate(self, alg: str, *, keyset: str, rsa_bits: int = 2048) -> CustodyKey:
        """Create a KMS signing key for ``alg`` tagged with ``keyset`` and a fresh key name.

        Raises:
            CustodyError: (operation ``generate``) ``alg`` or ``rsa_bits``
                unsupported, or KMS refused or could not be reached.
        """
        self.check_algorithm(alg)
        if alg in _EC_SPECS:
            spec = _EC_SPECS[alg]
        elif rsa_bits in _RSA_BITS:
            spec = f"RSA_{rsa_bits}"
        else:
            raise self.error("generate", f"RSA keys are 2048, 3072 or 4096 bits, not {rsa_bits}")
        name = key_name(keyset)
        made = self._call(
            "generate",
            "create_key",
            KeyUsage="SIGN_VERIFY",
            KeySpec=spec,
            Description=f"keywell signing key {name}",
            Tags=[
                {"TagKey": TAG_KEYSET, "TagValue": keyset},
                {"TagKey": TAG_KEY, "TagValue": name},
            ],
        )
        ref = str(made["KeyMetadata"]["KeyId"])
        try:
            answer = self._call("generate", "get_public_key", KeyId=ref)
            public = public_jwk(load_der_public_key(answer["PublicKey"]), alg)
        except (CustodyError, ValueError, TypeError) as exc:
            self._forget(ref)
            if isinstance(exc, CustodyError):
                raise
            raise self.error("generate", "KMS returned no usable public key") from None
        return CustodyKey(ref, public)

    def _forget(self, ref: str) -> None:
        # On failure the key stays tagged: refs() lists it and reconciliation destroys it.
        with contextlib.suppress(CustodyError):
            self.destroy(ref)

    def signer(self, ref: str, alg: str) -> SignFn:
        """Sign with ``ref`` through KMS ``Sign``; the result is the JOSE signature for ``alg``.

        Raises:
            CustodyError: (operation ``sign``) ``alg`` unsupported (at once);
                the key is gone, disabled or pending deletion, or KMS refused
                or could not be reached (at the call).
        """
        if alg not in _SIGNING:
            raise self.error("sign", f"{alg} is not supported here")
        algorithm = _SIGNING[alg]
        digest = digest_of(alg)

        def sign(data: bytes) -> bytes:
            if len(data) <= MAX_RAW_MESSAGE:
                message, kind = data, "RAW"
            else:
                hasher = hashes.Hash(digest)
                hasher.update(data)
                message, kind = hasher.finalize(), "DIGEST"
            answer = self._call(
                "sign",
                "sign",
                KeyId=ref,
                Message=message,
                MessageType=kind,
                SigningAlgorithm=algorithm,
            )
            signature = bytes(answer["Signature"])
            if alg.startswith("ES"):
                try:
                    return ecdsa_der_to_jose(signature, alg)
                except ValueError:
                    raise self.error("sign", "KMS returned no DER ECDSA signature") from None
            return signature

        return sign

    def destroy(self, ref: str) -> None:
        """Schedule ``ref``'s deletion (7 days); KMS refuses to sign with it from now on.

        A key already pending deletion or unknown to KMS is no error.

        Raises:
            CustodyError: (operation ``destroy``) KMS refused or could not be reached.
        """
        try:
            self._client.schedule_key_deletion(KeyId=ref, PendingWindowInDays=DELETION_WINDOW_DAYS)
        except ClientError as exc:
            if _code(exc) not in _GONE:
                raise self.error("destroy", _client_error(exc)) from None
        except BotoCoreError as exc:
            raise self.error("destroy", _describe(exc, self.timeout / 2)) from None

    def refs(self, keyset: str) -> dict[str, str]:
        """Every key of ``keyset`` in this region not scheduled for deletion: key ID -> key name.

        Costs one ``ListResourceTags`` per key of the region (paged ``ListKeys``)
        and one ``DescribeKey`` per key of the set.

        Raises:
            CustodyError: (operation ``refs``) KMS refused or could not be reached.
        """
        found: dict[str, str] = {}
        marker: dict[str, str] = {}
        while True:
            page = self._call("refs", "list_keys", Limit=1000, **marker)
            for entry in page.get("Keys", []):
                key_id = str(entry["KeyId"])
                name = self._name_of(key_id, keyset)
                if name is None:
                    continue
                meta = self._call("refs", "describe_key", KeyId=key_id)["KeyMetadata"]
                if meta["KeyState"] in _HELD_STATES:
                    found[key_id] = name
            if not page.get("Truncated"):
                return found
            marker = {"Marker": str(page["NextMarker"])}

    def holds(self, ref: str, keyset: str) -> bool:
        """One ``DescribeKey``: ``ref`` exists and is not pending deletion.

        Raises:
            CustodyError: (operation ``refs``) KMS refused or could not be reached.
        """
        try:
            meta = self._client.describe_key(KeyId=ref)["KeyMetadata"]
        except ClientError as exc:
            if _code(exc) == "NotFoundException":
                return False
            raise self.error("refs", _client_error(exc)) from None
        except BotoCoreError as exc:
            raise self.error("refs", _describe(exc, self.timeout / 2)) from None
        return meta.get("KeyState") in _HELD_STATES

    def _name_of(self, key_id: str, keyset: str) -> str | None:
        try:
            tags = self._client.list_resource_tags(KeyId=key_id, Limit=50)["Tags"]
        except ClientError as exc:
            if _code(exc) in {"AccessDeniedException", "NotFoundException"}:
                return None  # another owner's key, or deleted meanwhile: not ours to list
            raise self.error("refs", _client_error(exc)) from None
        except BotoCoreError as exc:
            raise self.error("refs", _describe(exc, self.timeout / 2)) from None
        values = {tag["TagKey"]: tag["TagValue"] for tag in tags}
        name = values.get(TAG_KEY)
        if values.get(TAG_KEYSET) != keyset or name is None:
            return None
        return name if key_name_time(name, keyset) is not None else None

    def check(self) -> None:
        """One ``ListKeys`` (``Limit=1``): KMS reachable and the credential accepted.

        Raises:
            CustodyError: (operation ``check``) otherwise.
        """
        self._call("check", "list_keys", Limit=1)

    def close(self) -> None:
        """Close the client's connection pool."""
        self._client.close()
        if self._sender is not None:
            self._sender.close()


def _check_endpoint(endpoint: str) -> None:
    try:
        parts = urlsplit(endpoint)
        host = parts.hostname or ""
    except ValueError:
        raise _error("open", "endpoint is not a URL") from None
    if parts.scheme == "https" and host:
        return
    if parts.scheme == "http" and host and is_loopback(host):
        return
    raise _error("open", "endpoint must be https, or plain http to a loopback host")


def _error(operation: str, message: str) -> CustodyError:
    return CustodyError(
        f"awskms custody: {operation} failed: {message}", backend="awskms", operation=operation
    )


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "unknown"))


def _client_error(exc: ClientError) -> str:
    # The code and status only: some AWS messages quote the request's credential scope.
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "?")
    return f"KMS answered {_code(exc)} (HTTP {status})"


def _describe(exc: BaseException, attempt: float) -> str:
    if isinstance(exc, (ReadTimeoutError, ConnectTimeoutError)):
        return f"KMS did not answer within {attempt:g} s (an attempt; 2 at most)"
    if isinstance(exc, AnswerTooLargeError):
        return f"KMS answered more than the {MAX_ANSWER // 1024 // 1024} MiB keywell reads"
    if isinstance(exc, NoCredentialsError):
        return "no AWS credentials found (environment, shared credentials file, profile or role)"
    if isinstance(exc, ProfileNotFound):
        return "the AWS profile named in the URI does not exist"
    return f"{type(exc).__name__} (KMS could not be reached or did not answer in time)"
