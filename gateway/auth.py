"""Who is calling: JWT access tokens (issue and verify) and OAuth2 client credentials.

The algorithm allow-list is the configured one only, checked before any key is used, so
``alg: none`` and HS256 tokens signed with a published RSA key (HS/RS confusion) are refused.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

import jwt
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from gateway.config import Client, GatewayConfig
from gateway.errors import ApiError

MAX_TOKEN_CHARS = 4096
REALM = "voltmart"
# A digest no secret hashes to, compared when the client is unknown so timing says nothing.
_NO_CLIENT_DIGEST = "0" * 64


@dataclass(frozen=True)
class Principal:
    """The verified caller: the token's subject and scopes."""

    sub: str
    scopes: frozenset[str]


def key_id(public_key) -> str:
    """Stable key id (RFC 7638-like thumbprint of the DER public key) for key rotation."""
    der = public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()[:16]


def unauthorized(reason: str, message: str, error: str = "invalid_token") -> ApiError:
    challenge = f'Bearer realm="{REALM}", error="{error}", error_description="{message}"'
    return ApiError(401, message, {"WWW-Authenticate": challenge}, auth_reason=reason)


class TokenIssuer:
    """Signs access tokens; ``clock`` is injectable so tests can mint expired ones."""

    def __init__(self, config: GatewayConfig, clock: Callable[[], float] = time.time) -> None:
        if not config.can_sign:
            raise ValueError("this gateway has no signing key (set PZ_JWT_PRIVATE_KEY_FILE)")
        self.config = config
        self.clock = clock
        if config.jwt_algorithm == "HS256":
            self._key: Any = config.jwt_secret
            self._headers: dict[str, str] = {}
        else:
            self._key = config.jwt_private_key
            self._headers = {"kid": key_id(config.jwt_private_key.public_key())}

    def issue(self, sub: str, scopes: frozenset[str] | set[str]) -> tuple[str, int]:
        """Return (token, lifetime in seconds)."""
        now = int(self.clock())
        ttl = self.config.token_ttl
        claims = {
            "iss": self.config.jwt_issuer,
            "aud": self.config.jwt_audience,
            "sub": sub,
            "iat": now,
            "exp": now + ttl,
            "scope": " ".join(sorted(scopes)),
            "jti": secrets.token_hex(8),
        }
        token = jwt.encode(claims, self._key, self.config.jwt_algorithm, headers=self._headers)
        return token, ttl


class TokenVerifier:
    """Checks signature, algorithm, exp, iat, iss and aud (with the configured leeway)."""

    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        self.algorithm = config.jwt_algorithm
        if self.algorithm == "HS256":
            self._keys: dict[str | None, Any] = {None: config.jwt_secret}
        else:
            self._keys = {key_id(k): k for k in config.jwt_public_keys}

    def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except (jwt.PyJWTError, ValueError):  # ValueError: non-UTF-8 bytes in the header
            raise unauthorized("malformed", "malformed access token") from None
        if header.get("alg") != self.algorithm:
            raise unauthorized("algorithm", f"access tokens must be signed with {self.algorithm}")
        kid = header.get("kid")
        if self.algorithm == "HS256":
            keys = list(self._keys.values())
        elif isinstance(kid, str) and kid in self._keys:
            keys = [self._keys[kid]]
        elif kid is None:
            keys = list(self._keys.values())  # no key id: try each configured public key
        else:
            raise unauthorized("signature", "access token signed by an unknown key")
        claims = None
        for key in keys:
            try:
                claims = self._decode(token, key)
                break
            except jwt.InvalidSignatureError:
                continue
        if claims is None:
            raise unauthorized("signature", "access token signature is invalid")
        sub, scope = claims.get("sub"), claims.get("scope", "")
        if not isinstance(sub, str) or not sub or not isinstance(scope, str):
            raise unauthorized("claims", "access token has no valid 'sub' or 'scope' claim")
        return Principal(sub, frozenset(scope.split()))

    def _decode(self, token: str, key: Any) -> dict[str, Any]:
        try:
            return jwt.decode(
                token,
                key,
                algorithms=[self.algorithm],
                audience=self.config.jwt_audience,
                issuer=self.config.jwt_issuer,
                leeway=self.config.jwt_leeway,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.InvalidSignatureError:
            raise
        except jwt.ExpiredSignatureError:
            raise unauthorized("expired", "access token expired; request a new one") from None
        except (jwt.InvalidAudienceError, jwt.InvalidIssuerError):
            raise unauthorized("claims", "access token is for another issuer or audience") from None
        except jwt.ImmatureSignatureError:
            raise unauthorized("claims", "access token is not valid yet; check clocks") from None
        except jwt.MissingRequiredClaimError as exc:
            raise unauthorized("claims", f"access token lacks the '{exc.claim}' claim") from None
        except jwt.InvalidAlgorithmError:
            raise unauthorized("algorithm", "access token algorithm is not allowed") from None
        except (jwt.PyJWTError, ValueError, TypeError):
            raise unauthorized("malformed", "malformed access token") from None


def bearer_token(authorization: str | None) -> str:
    """The token from an ``Authorization: Bearer <token>`` header, or a 401."""
    if not authorization:
        raise unauthorized("missing", "missing bearer token", error="invalid_request")
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > MAX_TOKEN_CHARS:
        raise unauthorized("malformed", "Authorization must be 'Bearer <token>'", "invalid_request")
    return token


def require_scope(principal: Principal, scope: str) -> None:
    if scope not in principal.scopes:
        challenge = f'Bearer realm="{REALM}", error="insufficient_scope", scope="{scope}"'
        raise ApiError(
            403,
            f"access token lacks the '{scope}' scope",
            {"WWW-Authenticate": challenge},
            auth_reason="scope",
        )


def oauth_error(status: int, code: str, message: str, reason: str | None = None) -> ApiError:
    headers = {"Cache-Control": "no-store"}
    if status == 401:
        headers["WWW-Authenticate"] = f'Basic realm="{REALM}"'
    return ApiError(status, message, headers, code=code, auth_reason=reason)


def basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    """(client_id, secret) from HTTP Basic (RFC 6749 2.3.1: form-encoded, then base64)."""
    if not authorization or not authorization[:6].lower() == "basic ":
        return None
    try:
        decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise oauth_error(401, "invalid_client", "malformed Basic credentials", "client") from None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise oauth_error(401, "invalid_client", "malformed Basic credentials", "client")
    return unquote_plus(client_id), unquote_plus(secret)


def authenticate_client(
    clients: Mapping[str, Client], client_id: str, secret: str
) -> Client | None:
    """The client if the secret matches, compared in constant time."""
    client = clients.get(client_id)
    expected = client.secret_sha256 if client else _NO_CLIENT_DIGEST
    digest = hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()
    return client if hmac.compare_digest(digest, expected) and client else None


def grant_client_credentials(
    fields: Mapping[str, str], authorization: str | None, clients: Mapping[str, Client]
) -> tuple[Client, frozenset[str]]:
    """Validate a token request; return the client and the scopes to grant."""
    unknown = set(fields) - {"grant_type", "client_id", "client_secret", "scope"}
    if unknown:
        raise oauth_error(400, "invalid_request", f"unknown parameter {sorted(unknown)[0]!r}")
    if fields.get("grant_type") != "client_credentials":
        raise oauth_error(
            400, "unsupported_grant_type", "grant_type must be client_credentials", "grant_type"
        )
    basic = basic_credentials(authorization)
    if basic and ("client_secret" in fields or fields.get("client_id", basic[0]) != basic[0]):
        raise oauth_error(400, "invalid_request", "send client credentials once, not twice")
    client_id, secret = basic or (fields.get("client_id", ""), fields.get("client_secret", ""))
    if not client_id or not secret:
        raise oauth_error(
            401, "invalid_client", "client_id and client_secret are required", "client"
        )
    client = authenticate_client(clients, client_id, secret)
    if client is None:
        raise oauth_error(401, "invalid_client", "unknown client or wrong secret", "client")
    requested = fields.get("scope")
    if requested is None:
        return client, client.scopes
    scopes = frozenset(requested.split())
    if not scopes or not scopes <= client.scopes:
        raise oauth_error(
            400, "invalid_scope", f"this client may request: {' '.join(sorted(client.scopes))}"
        )
    return client, scopes
