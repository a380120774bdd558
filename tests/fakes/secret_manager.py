"""A small GCP Secret Manager (v1 REST) server for tests, plain HTTP on loopback.

Follows the public REST reference for the calls ``google-cloud-secret-manager`` makes over its REST
transport: ``projects.secrets.create/get/patch/delete``, ``projects.secrets.addVersion``,
``projects.secrets.versions.access/get/list/disable/enable/destroy``, with the documented shapes:

- resource names ``projects/{number}/secrets/{id}/versions/{n}`` (the service answers with the project
  *number*; requests may use the id or the number); versions are numbered from 1;
- ``payload.data`` is base64; ``payload.dataCrc32c`` (int64, a JSON string) is checked when sent and
  returned on access; ``versionAliases`` values are int64 strings;
- ``versions/latest`` is the most recently created version; an alias name resolves to its version;
  accessing a DISABLED or DESTROYED version is ``FAILED_PRECONDITION``;
- ``patch`` requires ``updateMask`` (``versionAliases``, ``annotations``, ``labels``); an alias must
  point at an existing, non-destroyed version;
- ``create`` requires ``replication``; a duplicate id is ``ALREADY_EXISTS``;
- list returns newest first with ``pageSize``/``pageToken``/``nextPageToken``/``totalSize``;
- enums are names, or numbers when the client asks ``$alt=json;enum-encoding=int`` (the REST transport does);
- errors are ``{"error": {"code", "message", "status"}}``.

``deny(secret_id)`` answers 403 ``PERMISSION_DENIED`` for one secret, as a missing IAM binding would.
Not implemented: IAM policy calls, locations (regional secrets), rotation/topics/expiry fields, etags.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

SECRET_ID = re.compile(r"^[A-Za-z0-9_\-]{1,255}$")
ALIAS = re.compile(r"^[a-z][a-z0-9_\-]{0,62}$")
STATES = {"STATE_UNSPECIFIED": 0, "ENABLED": 1, "DISABLED": 2, "DESTROYED": 3}
CODES = {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 404: "NOT_FOUND", 409: "ALREADY_EXISTS"}


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def crc32c(data: bytes) -> int:
    import google_crc32c

    return int(google_crc32c.value(data))


class ApiError(Exception):
    def __init__(self, code: int, message: str, status: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status or CODES.get(code, "UNKNOWN")


class FakeSecretManager:
    """Secret Manager for one or more projects on ``http://127.0.0.1:<port>``."""

    def __init__(self, project_numbers: dict[str, str] | None = None) -> None:
        self.project_numbers = dict(project_numbers or {})
        self.secrets: dict[tuple[str, str], dict[str, Any]] = {}  # (project number, id) -> secret
        self.denied: set[str] = set()
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-secret-manager", daemon=True)
        self._thread.start()

    def deny(self, secret_id: str) -> None:
        self.denied.add(secret_id)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def number(self, project: str) -> str:
        if project.isdigit():
            return project
        return self.project_numbers.setdefault(project, str(100000000000 + len(self.project_numbers)))

    # -- model ----------------------------------------------------------------------------------------
    def secret(self, project: str, secret_id: str) -> dict[str, Any]:
        if secret_id in self.denied:
            raise ApiError(
                403,
                f"Permission 'secretmanager.secrets.get' denied for resource "
                f"'projects/{project}/secrets/{secret_id}' (or it may not exist).",
            )
        found = self.secrets.get((self.number(project), secret_id))
        if found is None:
            raise ApiError(404, f"Secret [projects/{self.number(project)}/secrets/{secret_id}] not found.")
        return found

    def version(self, secret: dict[str, Any], ref: str) -> dict[str, Any]:
        versions = secret["versions"]
        if ref == "latest":
            number = max(versions, default=None)
        elif ref.isdigit():
            number = int(ref)
        else:
            number = secret["versionAliases"].get(ref)
        if number is None or number not in versions:
            raise ApiError(404, f"Secret Version [{secret['name']}/versions/{ref}] not found.")
        return versions[number]  # type: ignore[no-any-return]


def _handler_for(fake: FakeSecretManager) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            fake.requests.append((self.command, parts.path))
            int_enums = "enum-encoding=int" in query.get("$alt", "")
            try:
                body = json.loads(raw) if raw else {}
                with fake._lock:
                    out = route(self.command, unquote(parts.path), query, body)
                self._send(200, render(out, int_enums))
            except ValueError:
                self._send(
                    400,
                    {"error": {"code": 400, "message": "Invalid JSON payload received.", "status": "INVALID_ARGUMENT"}},
                )
            except ApiError as exc:
                self._send(exc.code, {"error": {"code": exc.code, "message": exc.message, "status": exc.status}})

        do_GET = do_POST = do_PATCH = do_DELETE = _handle

    def render(obj: Any, int_enums: bool) -> Any:
        if isinstance(obj, dict):
            return {
                k: (STATES[v] if k == "state" and int_enums else render(v, int_enums))
                for k, v in obj.items()
                if not k.startswith("_")
            }
        if isinstance(obj, list):
            return [render(x, int_enums) for x in obj]
        return obj

    def route(method: str, path: str, query: dict[str, str], body: dict[str, Any]) -> Any:
        m = re.match(r"^/v1/projects/([^/]+)/secrets(?:/([^/:]+)(?:/versions(?:/([^/:]+))?)?)?(?::(\w+))?$", path)
        if not m:
            raise ApiError(404, f"no such route {method} {path}")
        project, secret_id, version_ref, verb = m.groups()
        has_versions = "/versions" in path
        if secret_id is None:
            if method == "POST" and verb is None:
                return create(project, query.get("secretId", ""), body)
            raise ApiError(404, f"no such route {method} {path}")
        secret = fake.secret(project, secret_id)
        if not has_versions:
            if method == "GET" and verb is None:
                return secret_json(secret)
            if method == "PATCH" and verb is None:
                return patch(secret, query, body)
            if method == "DELETE" and verb is None:
                del fake.secrets[(fake.number(project), secret_id)]
                return {}
            if method == "POST" and verb == "addVersion":
                return add_version(secret, body)
            raise ApiError(404, f"no such route {method} {path}")
        if version_ref is None:
            if method == "GET":
                return list_versions(secret, query)
            raise ApiError(404, f"no such route {method} {path}")
        version = fake.version(secret, version_ref)
        if method == "GET" and verb is None:
            return version
        if method == "GET" and verb == "access":
            if version["state"] != "ENABLED":
                raise ApiError(
                    400, f"Secret Version [{version['name']}] is in {version['state']} state.", "FAILED_PRECONDITION"
                )
            data = version["_data"]
            return {
                "name": version["name"],
                "payload": {"data": base64.b64encode(data).decode(), "dataCrc32c": str(crc32c(data))},
            }
        if method == "POST" and verb in ("disable", "enable", "destroy"):
            if version["state"] == "DESTROYED":
                raise ApiError(400, f"Secret Version [{version['name']}] is in DESTROYED state.", "FAILED_PRECONDITION")
            version["state"] = {"disable": "DISABLED", "enable": "ENABLED", "destroy": "DESTROYED"}[verb]
            if verb == "destroy":
                version["_data"] = b""
                version["destroyTime"] = _now()
            version["etag"] = f'"{uuid.uuid4().hex[:14]}"'
            return version
        raise ApiError(404, f"no such route {method} {path}")

    def secret_json(secret: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in secret.items() if k != "versions"}
        out["versionAliases"] = {k: str(v) for k, v in secret["versionAliases"].items()}
        if not out["versionAliases"]:
            del out["versionAliases"]
        return out

    def create(project: str, secret_id: str, body: dict[str, Any]) -> dict[str, Any]:
        if not SECRET_ID.match(secret_id):
            raise ApiError(
                400,
                "Secret ID must contain only letters, numbers, dashes and underscores, and be at most 255 characters.",
            )
        if not body.get("replication"):
            raise ApiError(400, "Secret.replication is required.")
        key = (fake.number(project), secret_id)
        if key in fake.secrets:
            raise ApiError(409, f"Secret [projects/{key[0]}/secrets/{secret_id}] already exists.")
        secret: dict[str, Any] = {
            "name": f"projects/{key[0]}/secrets/{secret_id}",
            "replication": body["replication"],
            "createTime": _now(),
            "etag": f'"{uuid.uuid4().hex[:14]}"',
            "labels": body.get("labels") or {},
            "annotations": body.get("annotations") or {},
            **({"expireTime": body["expireTime"]} if body.get("expireTime") else {}),
            "versionAliases": {},
            "versions": {},
        }
        fake.secrets[key] = secret
        if body.get("versionAliases"):
            raise ApiError(400, "versionAliases must point at existing versions.")
        return secret_json(secret)

    def patch(secret: dict[str, Any], query: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        mask = [p.strip() for p in query.get("updateMask", "").split(",") if p.strip()]
        if not mask:
            raise ApiError(400, "update_mask is required.")
        for path in mask:
            if path in ("versionAliases", "version_aliases"):
                aliases: dict[str, int] = {}
                for alias, number in (body.get("versionAliases") or {}).items():
                    if not ALIAS.match(alias) or alias == "latest":
                        raise ApiError(400, f"Invalid alias name {alias!r}.")
                    n = int(number)
                    if n not in secret["versions"]:
                        raise ApiError(400, f"Version {n} does not exist for alias {alias!r}.")
                    if secret["versions"][n]["state"] == "DESTROYED":
                        raise ApiError(400, f"Version {n} is destroyed.", "FAILED_PRECONDITION")
                    aliases[alias] = n
                secret["versionAliases"] = aliases
            elif path in ("annotations", "labels"):
                secret[path] = dict(body.get(path) or {})
            elif path in ("expireTime", "expire_time"):  # the expiration oneof (ttl is not modelled)
                if body.get("expireTime"):
                    secret["expireTime"] = body["expireTime"]
                else:
                    secret.pop("expireTime", None)
            else:
                raise ApiError(400, f"Invalid update_mask path {path!r}.")
        secret["etag"] = f'"{uuid.uuid4().hex[:14]}"'
        return secret_json(secret)

    def add_version(secret: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        payload = body.get("payload") or {}
        try:
            data = base64.b64decode(payload.get("data", ""), validate=True)
        except ValueError:
            raise ApiError(400, "payload.data is not valid base64.") from None
        if len(data) > 65536:
            raise ApiError(400, "Secret payload cannot exceed 65536 bytes.")
        checksum = payload.get("dataCrc32c")
        if checksum is not None and int(checksum) != crc32c(data):
            raise ApiError(400, "Checksum mismatch: the data_crc32c does not match the payload.")
        number = max(secret["versions"], default=0) + 1
        version = {
            "name": f"{secret['name']}/versions/{number}",
            "createTime": _now(),
            "state": "ENABLED",
            "etag": f'"{uuid.uuid4().hex[:14]}"',
            "replicationStatus": {"automatic": {}},
            "clientSpecifiedPayloadChecksum": checksum is not None,
            "_data": data,
        }
        secret["versions"][number] = version
        return version

    def list_versions(secret: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        items = [secret["versions"][n] for n in sorted(secret["versions"], reverse=True)]
        try:
            size = int(query.get("pageSize", "25"))
            start = int(query.get("pageToken") or "0")
        except ValueError:
            raise ApiError(400, "pageSize and pageToken must be integers.") from None
        size = max(1, min(size, 25000))
        out: dict[str, Any] = {"versions": items[start : start + size], "totalSize": len(items)}
        if start + size < len(items):
            out["nextPageToken"] = str(start + size)
        return out

    return Handler
