"""A small Azure Key Vault (secrets) server for tests: HTTPS with a throw-away CA, bearer challenge.

Follows the public REST reference (api-version 7.x / 2025+): the calls ``azure-keyvault-secrets``
makes for get, set, list versions and update properties, with the documented JSON shapes
(``SecretBundle``, ``SecretItem``, ``KeyVaultError``) and behaviours:

- a request without ``Authorization: Bearer <token>`` gets 401 and
  ``WWW-Authenticate: Bearer authorization="https://login.microsoftonline.com/<tenant>",
  resource="https://vault.azure.net"`` (the challenge the SDK's ChallengeAuthPolicy answers);
- ``api-version`` is required; names are ``[0-9a-zA-Z-]{1,127}``; at most 15 tags;
- reading a disabled version is 403 ``Forbidden``; a missing secret or version is 404 ``SecretNotFound``;
- ``GET /secrets/{name}/`` (empty version) is the latest version; UpdateSecret returns no value;
- list pages hold ``maxresults`` items (1..25) and carry ``nextLink`` with ``$skiptoken``.

``deny(name)`` makes every call on one secret answer 403, as a missing access policy would.
Not implemented: delete/recover/purge, backup/restore, list of secrets, certificates-backed secrets.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import re
import ssl
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

NAME = re.compile(r"^[0-9a-zA-Z\-]{1,127}$")
RESOURCE = "https://vault.azure.net"


def make_tls_files(directory: Path, hostname: str = "localhost") -> tuple[Path, Path, Path]:
    """A throw-away CA and a server certificate for ``hostname`` and 127.0.0.1 (strict-X.509 clean).

    Returns (ca_cert, server_cert, server_key) PEM paths.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "circle test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(hostname), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    ca_path, cert_path, key_path = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return ca_path, cert_path, key_path


class _Version:
    def __init__(
        self, value: str, tags: dict[str, str], content_type: str | None, attrs: dict[str, Any], seq: int
    ) -> None:
        self.id = uuid.uuid4().hex
        self.value = value
        self.tags = tags
        self.content_type = content_type
        now = int(time.time())
        self.enabled = attrs.get("enabled", True) is not False
        self.nbf = attrs.get("nbf")
        self.exp = attrs.get("exp")
        self.created = now
        self.updated = now
        self.seq = seq


class FakeKeyVault:
    """One vault on ``https://localhost:<port>``; ``token`` is the only bearer token it accepts."""

    def __init__(self, tls_dir: Path, *, tenant: str = "00000000-0000-0000-0000-000000000000") -> None:
        self.ca_file, cert, key = make_tls_files(tls_dir)
        self.tenant = tenant
        self.token = "fake-kv-token-" + uuid.uuid4().hex
        self.secrets: dict[str, list[_Version]] = {}
        self.denied: set[str] = set()
        self.requests: list[tuple[str, str, bool]] = []  # (method, path, had a valid token)
        self._seq = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.url = f"https://localhost:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-key-vault", daemon=True)
        self._thread.start()

    def deny(self, name: str) -> None:
        self.denied.add(name.lower())

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- model ----------------------------------------------------------------------------------------
    def _bundle(self, name: str, v: _Version, *, with_value: bool = True) -> dict[str, Any]:
        attrs: dict[str, Any] = {
            "enabled": v.enabled,
            "created": v.created,
            "updated": v.updated,
            "recoveryLevel": "Recoverable+Purgeable",
            "recoverableDays": 90,
        }
        if v.nbf is not None:
            attrs["nbf"] = v.nbf
        if v.exp is not None:
            attrs["exp"] = v.exp
        out: dict[str, Any] = {"id": f"{self.url}/secrets/{name}/{v.id}", "attributes": attrs}
        if v.tags:
            out["tags"] = dict(v.tags)
        if v.content_type:
            out["contentType"] = v.content_type
        if with_value:
            out["value"] = v.value
        return out


def _error(status: int, code: str, message: str, inner: str | None = None) -> tuple[int, dict[str, Any]]:
    err: dict[str, Any] = {"code": code, "message": message}
    if inner:
        err["innererror"] = {"code": inner}
    return status, {"error": err}


def _handler_for(vault: FakeKeyVault) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            pass

        def _send(self, status: int, body: dict[str, Any] | None, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("x-ms-request-id", str(uuid.uuid4()))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            authorized = self.headers.get("Authorization") == f"Bearer {vault.token}"
            vault.requests.append((self.command, parts.path, authorized))
            if not authorized:
                challenge = (
                    f'Bearer authorization="https://login.microsoftonline.com/{vault.tenant}", resource="{RESOURCE}"'
                )
                status, body = _error(401, "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token.")
                self._send(status, body, {"WWW-Authenticate": challenge})
                return
            if "api-version" not in query:
                self._send(*_error(400, "BadParameter", "The 'api-version' query parameter is missing."))
                return
            try:
                payload = json.loads(raw) if raw else {}
            except ValueError:
                self._send(*_error(400, "BadParameter", "The request body is not valid JSON."))
                return
            with vault._lock:
                status, body = route(self.command, unquote(parts.path), query, payload)
            self._send(status, body)

        do_GET = do_PUT = do_PATCH = do_DELETE = do_POST = _handle

    def route(method: str, path: str, query: dict[str, str], payload: dict[str, Any]) -> tuple[int, Any]:
        m = re.match(r"^/secrets/([^/]+)(?:/([^/]*))?$", path)
        if not m:
            return _error(404, "NotFound", f"no such route {method} {path}")
        name, rest = m.group(1), m.group(2)
        if not NAME.match(name):
            return _error(400, "BadParameter", "The secret name is invalid: use 1-127 alphanumerics and dashes.")
        if name.lower() in vault.denied:
            return _error(
                403,
                "Forbidden",
                "The user, group or application does not have secrets permission on this key vault.",
                "AccessDenied",
            )
        key = name.lower()  # Key Vault names are case-insensitive
        if method == "PUT" and rest is None:
            return set_secret(name, key, payload)
        if method == "GET" and rest == "versions":
            return list_versions(name, key, query)
        if method == "GET":
            return get_secret(name, key, rest or "")
        if method == "PATCH":
            return update_secret(name, key, rest or "", payload)
        return _error(405, "MethodNotAllowed", f"{method} is not supported on {path}")

    def find(name: str, key: str, version: str) -> tuple[_Version | None, tuple[int, Any] | None]:
        versions = vault.secrets.get(key)
        if not versions:
            return None, _error(
                404,
                "SecretNotFound",
                f"A secret with (name/id) {name} was not found in this "
                "key vault. If you recently deleted this secret you may be "
                "able to recover it using the correct recovery command.",
            )
        if not version:
            return versions[-1], None
        for v in versions:
            if v.id == version:
                return v, None
        return None, _error(
            404, "SecretNotFound", f"A secret with (name/id) {name}/{version} was not found in this key vault."
        )

    def set_secret(name: str, key: str, payload: dict[str, Any]) -> tuple[int, Any]:
        value = payload.get("value")
        if not isinstance(value, str):
            return _error(400, "BadParameter", "Property 'value' is required.")
        tags = payload.get("tags") or {}
        if not isinstance(tags, dict) or len(tags) > 15:
            return _error(400, "BadParameter", "At most 15 tags are allowed.")
        vault._seq += 1
        v = _Version(
            value,
            {str(k): str(x) for k, x in tags.items()},
            payload.get("contentType"),
            payload.get("attributes") or {},
            vault._seq,
        )
        vault.secrets.setdefault(key, []).append(v)
        return 200, vault._bundle(name, v)

    def get_secret(name: str, key: str, version: str) -> tuple[int, Any]:
        v, err = find(name, key, version)
        if err:
            return err
        assert v is not None
        if not v.enabled:
            return _error(403, "Forbidden", "Operation get is not allowed on a disabled secret.", "SecretDisabled")
        return 200, vault._bundle(name, v)

    def list_versions(name: str, key: str, query: dict[str, str]) -> tuple[int, Any]:
        versions = vault.secrets.get(key)
        if not versions:
            err = find(name, key, "")[1]
            assert err is not None
            return err
        try:
            size = int(query.get("maxresults", "25"))
            start = int(query.get("$skiptoken", "0"))
        except ValueError:
            return _error(400, "BadParameter", "maxresults and $skiptoken must be integers.")
        if not 1 <= size <= 25:
            return _error(400, "BadParameter", "maxresults must be between 1 and 25.")
        page = versions[start : start + size]
        body: dict[str, Any] = {"value": [vault._bundle(name, v, with_value=False) for v in page]}
        if start + size < len(versions):
            body["nextLink"] = (
                f"{vault.url}/secrets/{quote(name)}/versions?api-version={query['api-version']}"
                f"&maxresults={size}&$skiptoken={start + size}"
            )
        else:
            body["nextLink"] = None
        return 200, body

    def update_secret(name: str, key: str, version: str, payload: dict[str, Any]) -> tuple[int, Any]:
        v, err = find(name, key, version)
        if err:
            return err
        assert v is not None
        if "tags" in payload and payload["tags"] is not None:
            tags = payload["tags"]
            if not isinstance(tags, dict) or len(tags) > 15:
                return _error(400, "BadParameter", "At most 15 tags are allowed.")
            v.tags = {str(k): str(x) for k, x in tags.items()}
        attrs = payload.get("attributes") or {}
        if attrs.get("enabled") is not None:
            v.enabled = bool(attrs["enabled"])
        for field in ("nbf", "exp"):
            if field in attrs:
                setattr(v, field, attrs[field])
        if payload.get("contentType") is not None:
            v.content_type = payload["contentType"]
        v.updated = int(time.time())
        return 200, vault._bundle(name, v, with_value=False)

    return Handler
