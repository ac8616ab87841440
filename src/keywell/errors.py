"""Every error keywell raises, under one root.

Each class carries a stable, machine-readable ``code`` (in the manner of
panva/jose's ``ERR_JWT_EXPIRED``) that callers and HTTP layers may switch on.
Messages say *why* a token or key was refused, never what secret it held.

The tree::

    KeywellError                         KW_ERROR
    ├── InvalidKeyError                  KW_INVALID_KEY
    │   └── KeyNotSupportedError         KW_KEY_NOT_SUPPORTED
    ├── TokenError                       KW_TOKEN
    │   ├── MalformedTokenError          KW_TOKEN_MALFORMED
    │   │   ├── TokenTooLargeError       KW_TOKEN_TOO_LARGE
    │   │   └── InvalidHeaderError       KW_HEADER_INVALID
    │   ├── AlgorithmError               KW_ALG_DISALLOWED
    │   │   └── UnsupportedAlgorithmError KW_ALG_UNSUPPORTED
    │   ├── NoMatchingKeyError           KW_NO_MATCHING_KEY
    │   │   └── SkippedKeyError          KW_KEY_SKIPPED
    │   ├── InvalidSignatureError        KW_INVALID_SIGNATURE
    │   ├── ClaimError                   KW_CLAIM_INVALID
    │   │   ├── ExpiredTokenError        KW_TOKEN_EXPIRED
    │   │   ├── NotYetValidError         KW_TOKEN_NOT_YET_VALID
    │   │   └── MissingClaimError        KW_CLAIM_MISSING
    │   └── DPoPError                    KW_DPOP
    │       ├── DPoPProofError           KW_DPOP_PROOF_INVALID
    │       │   ├── DPoPReplayError      KW_DPOP_REPLAY
    │       │   └── DPoPNonceError       KW_DPOP_NONCE
    │       └── DPoPBindingError         KW_DPOP_BINDING
    ├── ReplayStoreError                 KW_DPOP_REPLAY_STORE
    ├── JWKSError                        KW_JWKS
    │   └── JWKSFetchError               KW_JWKS_FETCH
    │       └── DiscoveryError           KW_DISCOVERY
    ├── InvalidInputError                KW_INVALID_INPUT
    ├── PolicyError                      KW_POLICY_INVALID
    ├── KeySetError                      KW_KEYSET
    │   ├── KeySetNotFoundError          KW_KEYSET_NOT_FOUND
    │   ├── KeySetExistsError            KW_KEYSET_EXISTS
    │   └── KeyNotFoundError             KW_KEY_NOT_FOUND
    ├── KEKError                         KW_KEK
    ├── CustodyError                     KW_CUSTODY
    ├── AddressInUseError                KW_ADDRESS_IN_USE
    └── AdminTokenNotFoundError          KW_ADMIN_TOKEN_NOT_FOUND
"""

from __future__ import annotations

__all__ = [
    "AddressInUseError",
    "AdminTokenNotFoundError",
    "AlgorithmError",
    "ClaimError",
    "CustodyError",
    "DPoPBindingError",
    "DPoPError",
    "DPoPNonceError",
    "DPoPProofError",
    "DPoPReplayError",
    "DiscoveryError",
    "ExpiredTokenError",
    "InvalidHeaderError",
    "InvalidInputError",
    "InvalidKeyError",
    "InvalidSignatureError",
    "JWKSError",
    "JWKSFetchError",
    "KEKError",
    "KeyNotFoundError",
    "KeyNotSupportedError",
    "KeySetError",
    "KeySetExistsError",
    "KeySetNotFoundError",
    "KeywellError",
    "MalformedTokenError",
    "MissingClaimError",
    "NoMatchingKeyError",
    "NotYetValidError",
    "PolicyError",
    "ReplayStoreError",
    "SkippedKeyError",
    "TokenError",
    "TokenTooLargeError",
    "UnsupportedAlgorithmError",
]


class KeywellError(Exception):
    """Root of every error keywell raises."""

    code: str = "KW_ERROR"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidKeyError(KeywellError):
    """A key is malformed, inconsistent, too weak, or unusable for the operation."""

    code = "KW_INVALID_KEY"


class KeyNotSupportedError(InvalidKeyError):
    """A key's type or curve is not one keywell supports (RFC 7517 section 5 skips these)."""

    code = "KW_KEY_NOT_SUPPORTED"


class TokenError(KeywellError):
    """A token was refused."""

    code = "KW_TOKEN"


class MalformedTokenError(TokenError):
    """The token is not a well-formed JWS compact serialization or JWT."""

    code = "KW_TOKEN_MALFORMED"


class TokenTooLargeError(MalformedTokenError):
    """The token is longer than the configured limit; it was not parsed."""

    code = "KW_TOKEN_TOO_LARGE"


class InvalidHeaderError(MalformedTokenError):
    """A registered header parameter has the wrong JSON type or value; ``member`` names it.

    Raised before any key is looked up (RFC 7515 section 4.1).
    """

    code = "KW_HEADER_INVALID"

    def __init__(self, message: str, *, member: str) -> None:
        super().__init__(message)
        self.member = member


class AlgorithmError(TokenError):
    """The token's algorithm is not allowed for this key or by the caller."""

    code = "KW_ALG_DISALLOWED"


class UnsupportedAlgorithmError(AlgorithmError):
    """The token names an algorithm keywell does not implement (``none`` among them)."""

    code = "KW_ALG_UNSUPPORTED"


class NoMatchingKeyError(TokenError):
    """No key in the set matches the token's ``kid``/``alg``."""

    code = "KW_NO_MATCHING_KEY"


class SkippedKeyError(NoMatchingKeyError):
    """The token's ``kid`` names a key the set skipped when it was parsed.

    ``kid`` is that key ID, ``reason`` says why it was skipped (for instance
    "RSA modulus 1024 bits < 2048; pass allow_weak_rsa=True ...") and
    ``skipped_code`` is the code of the error that skipped it.
    """

    code = "KW_KEY_SKIPPED"

    def __init__(self, message: str, *, kid: str, reason: str, skipped_code: str) -> None:
        super().__init__(message)
        self.kid = kid
        self.reason = reason
        self.skipped_code = skipped_code


class InvalidSignatureError(TokenError):
    """The signature does not verify."""

    code = "KW_INVALID_SIGNATURE"


class ClaimError(TokenError):
    """A claim has the wrong value or type.

    ``claim`` names the claim; ``reason`` is a short machine-friendly word
    (``"mismatch"``, ``"type"``, ``"missing"``, ``"expired"``...).
    """

    code = "KW_CLAIM_INVALID"

    def __init__(self, message: str, *, claim: str, reason: str = "mismatch") -> None:
        super().__init__(message)
        self.claim = claim
        self.reason = reason


class ExpiredTokenError(ClaimError):
    """The ``exp`` time has passed (beyond the leeway)."""

    code = "KW_TOKEN_EXPIRED"

    def __init__(self, message: str, *, claim: str = "exp", reason: str = "expired") -> None:
        super().__init__(message, claim=claim, reason=reason)


class NotYetValidError(ClaimError):
    """The ``nbf`` (or ``iat``) time lies in the future (beyond the leeway)."""

    code = "KW_TOKEN_NOT_YET_VALID"

    def __init__(self, message: str, *, claim: str = "nbf", reason: str = "not_yet_valid") -> None:
        super().__init__(message, claim=claim, reason=reason)


class MissingClaimError(ClaimError):
    """A required claim is absent."""

    code = "KW_CLAIM_MISSING"

    def __init__(self, message: str, *, claim: str, reason: str = "missing") -> None:
        super().__init__(message, claim=claim, reason=reason)


class DPoPError(TokenError):
    """A request's DPoP proof or its binding to the access token was refused (RFC 9449).

    ``error`` is the OAuth error code a resource server answers with
    (RFC 9449 section 7.1): ``invalid_dpop_proof``, ``use_dpop_nonce`` or
    ``invalid_token``.
    """

    code = "KW_DPOP"
    error = "invalid_dpop_proof"


class DPoPProofError(DPoPError):
    """The DPoP proof is malformed, badly signed, or does not fit the request (RFC 9449 4.3).

    ``member`` names the header parameter or claim at fault (``typ``, ``jwk``,
    ``htm``, ``htu``, ``iat``, ``ath``...), or ``"DPoP"`` for the header itself.
    """

    code = "KW_DPOP_PROOF_INVALID"

    def __init__(self, message: str, *, member: str) -> None:
        super().__init__(message)
        self.member = member


class DPoPReplayError(DPoPProofError):
    """A proof with this ``jti`` was already accepted within the window (RFC 9449 section 11.1)."""

    code = "KW_DPOP_REPLAY"

    def __init__(self, message: str, *, member: str = "jti") -> None:
        super().__init__(message, member=member)


class DPoPNonceError(DPoPProofError):
    """The server requires a fresh nonce in the proof (RFC 9449 section 9: ``use_dpop_nonce``).

    ``nonce`` is the value to send in the ``DPoP-Nonce`` response header.
    """

    code = "KW_DPOP_NONCE"
    error = "use_dpop_nonce"

    def __init__(self, message: str, *, nonce: str) -> None:
        super().__init__(message, member="nonce")
        self.nonce = nonce


class DPoPBindingError(DPoPError):
    """The access token is not bound to the proof's key, or its binding was ignored.

    The token's ``cnf.jkt`` differs from the RFC 7638 thumbprint of the
    proof's key, a DPoP request carries an unbound token, or a DPoP-bound
    token was presented as a bearer token (RFC 9449 sections 6.1, 7.1, 7.2).
    """

    code = "KW_DPOP_BINDING"
    error = "invalid_token"


class ReplayStoreError(KeywellError):
    """The shared store of seen DPoP proofs (Redis, SQL) failed; the request cannot be checked.

    A server problem, not a refused proof: integrations answer 503. The
    message names the store's kind and the error's type, never its address.
    """

    code = "KW_DPOP_REPLAY_STORE"


class JWKSError(KeywellError):
    """A JWK Set could not be used."""

    code = "KW_JWKS"


class JWKSFetchError(JWKSError):
    """A remote JWK Set could not be fetched and no usable cached copy remains."""

    code = "KW_JWKS_FETCH"


class DiscoveryError(JWKSFetchError):
    """An issuer's discovery document is missing, malformed, or names another issuer."""

    code = "KW_DISCOVERY"


class InvalidInputError(KeywellError, ValueError):
    """A key-set name, kid, issuer URL or reason breaks its rule; ``field`` names which.

    Also a :class:`ValueError`, so callers that caught the Issuer's ``ValueError``
    refusals keep working. The message never repeats the refused value.
    """

    code = "KW_INVALID_INPUT"

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class PolicyError(KeywellError):
    """A rotation policy is inconsistent; ``setting`` names the offending setting."""

    code = "KW_POLICY_INVALID"

    def __init__(self, message: str, *, setting: str) -> None:
        super().__init__(message)
        self.setting = setting


class KeySetError(KeywellError):
    """A key-set operation could not be performed."""

    code = "KW_KEYSET"


class KeySetNotFoundError(KeySetError):
    """No key set has that name."""

    code = "KW_KEYSET_NOT_FOUND"


class KeySetExistsError(KeySetError):
    """A key set with that name already exists."""

    code = "KW_KEYSET_EXISTS"


class KeyNotFoundError(KeySetError):
    """The key set has no key with that ``kid``."""

    code = "KW_KEY_NOT_FOUND"


class KEKError(KeywellError):
    """A key-encryption key is missing or wrong; ``kek_id`` names the one needed."""

    code = "KW_KEK"

    def __init__(self, message: str, *, kek_id: str | None = None) -> None:
        super().__init__(message)
        self.kek_id = kek_id


class CustodyError(KeywellError):
    """A key custody backend (HSM or KMS) failed or refused an operation.

    ``backend`` is the custody's scheme (``pkcs11``, ``transit``, ``awskms``) and
    ``operation`` what was asked of it (``generate``, ``sign``, ``destroy``,
    ``check``, ``open``). The message names neither a credential nor key material.
    """

    code = "KW_CUSTODY"

    def __init__(self, message: str, *, backend: str, operation: str) -> None:
        super().__init__(message)
        self.backend = backend
        self.operation = operation


class AddressInUseError(KeywellError):
    """The server's listen address is taken by another process; ``address`` is ``host:port``."""

    code = "KW_ADDRESS_IN_USE"

    def __init__(self, message: str, *, address: str) -> None:
        super().__init__(message)
        self.address = address


class AdminTokenNotFoundError(KeywellError):
    """No admin token has that id (revoking one by id)."""

    code = "KW_ADMIN_TOKEN_NOT_FOUND"
