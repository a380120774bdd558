"""``file:///path/secrets.json``: a JSON file of secrets for development, with versions and stages.

Two shapes are read. A plain map ``{"name": "value" | {...JSON document...}}`` (easy to write by hand;
each entry is version ``1``, ``current``), and the managed shape this backend writes once anything is
stored::

    {"format": "circle-secrets/1",
     "secrets": {"name": {"versions": {"1": {"value": "...", "created": "...", "enabled": true, "token": null}},
                          "stages": {"current": "1"}}}}

Writes replace the file atomically (temp file, fsync, rename) with mode 0600; a lock serialises
writers in this process. It is not meant for several processes writing at once.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..api import (
    CURRENT,
    PENDING,
    SecretBackend,
    SecretValue,
    SecretVersion,
    discard_stages,
    promote_stages,
)
from ..errors import SecretNotFound, SecretsConflict, SecretsError, SecretsInvalidArgument, SecretsPermissionDenied

FORMAT = "circle-secrets/1"
Doc = dict[str, Any]


class FileBackend(SecretBackend):
    provider = "file"
    max_value_bytes = 1 << 20

    def __init__(self, path: str, options: dict[str, Any]) -> None:
        if options:
            raise SecretsInvalidArgument(f"unknown file:// options: {', '.join(sorted(options))}", provider="file")
        if not os.path.isabs(path):
            raise SecretsInvalidArgument(f"file:// needs an absolute path, got {path!r}", provider="file")
        self._path = Path(path)
        self._lock = threading.RLock()

    def describe(self) -> str:
        return f"file://{self._path}"

    # -- the file -------------------------------------------------------------------------------------
    def _load(self, operation: str) -> Doc:
        try:
            raw = self._path.read_text("utf-8")
        except FileNotFoundError:
            return {"format": FORMAT, "secrets": {}}
        except PermissionError:
            raise SecretsPermissionDenied(f"cannot read {self._path}", provider="file", operation=operation) from None
        try:
            doc = json.loads(raw)
        except ValueError:
            doc = None
        if not isinstance(doc, dict):
            # never echo the parser's message: it quotes the file, i.e. secrets
            raise SecretsError(f"{self._path} is not a JSON object", provider="file", operation=operation)
        if doc.get("format") == FORMAT:
            return doc
        secrets: Doc = {}
        for name, value in doc.items():
            text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), sort_keys=True)
            secrets[name] = {
                "versions": {"1": {"value": text, "created": None, "enabled": True, "token": None}},
                "stages": {CURRENT: "1"},
            }
        return {"format": FORMAT, "secrets": secrets}

    def _save(self, doc: Doc) -> None:
        directory = self._path.parent
        fd, tmp = tempfile.mkstemp(prefix=f".{self._path.name}.", suffix=".tmp", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(doc, out, indent=1, sort_keys=True)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, self._path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _secret(self, doc: Doc, name: str, operation: str) -> Doc:
        entry = doc["secrets"].get(name)
        if entry is None:
            raise SecretNotFound("no such secret", provider="file", operation=operation, name=name)
        return entry  # type: ignore[no-any-return]

    # -- operations -----------------------------------------------------------------------------------
    def read(self, name: str, *, version: str | None, stage: str | None) -> SecretValue:
        with self._lock:
            entry = self._secret(self._load("get"), name, "get")
        if version is None:
            version = entry["stages"].get(stage or CURRENT)
            if version is None:
                raise SecretNotFound(f"no version holds stage {stage!r}", provider="file", operation="get", name=name)
        item = entry["versions"].get(version)
        if item is None:
            raise SecretNotFound(f"no version {version!r}", provider="file", operation="get", name=name)
        if not item.get("enabled", True):
            raise SecretsPermissionDenied(
                f"version {version!r} is disabled", provider="file", operation="get", name=name
            )
        return SecretValue(item["value"], version)

    def list_versions(self, name: str) -> list[SecretVersion]:
        with self._lock:
            entry = self._secret(self._load("versions"), name, "versions")
        out = []
        for vid, item in sorted(entry["versions"].items(), key=lambda kv: int(kv[0])):
            stages = tuple(s for s, v in sorted(entry["stages"].items()) if v == vid)
            created = datetime.fromisoformat(item["created"]) if item.get("created") else None
            out.append(SecretVersion(vid, stages, created, bool(item.get("enabled", True))))
        return out

    def stages(self, name: str) -> dict[str, str]:
        with self._lock:
            return dict(self._secret(self._load("stages"), name, "stages")["stages"])

    def _add(self, entry: Doc, value: str, token: str | None) -> str:
        vid = str(max((int(v) for v in entry["versions"]), default=0) + 1)
        entry["versions"][vid] = {
            "value": value,
            "created": datetime.now(UTC).isoformat(),
            "enabled": True,
            "token": token,
        }
        return vid

    def write(self, name: str, value: str, *, expires_on: datetime | None = None) -> str:
        with self._lock:
            doc = self._load("put")
            entry = doc["secrets"].setdefault(name, {"versions": {}, "stages": {}})
            vid = self._add(entry, value, None)
            entry["stages"] = promote_stages(entry["stages"], vid)
            self._save(doc)
            return vid

    def put_pending(self, name: str, value: str, token: str, *, expires_on: datetime | None = None) -> str:
        with self._lock:
            doc = self._load("put_pending")
            entry = self._secret(doc, name, "put_pending")
            for vid, item in entry["versions"].items():
                if item.get("token") == token:
                    return str(vid)
            vid = self._add(entry, value, token)
            entry["stages"][PENDING] = vid
            self._save(doc)
            return vid

    def promote(self, name: str, version: str) -> None:
        with self._lock:
            doc = self._load("promote")
            entry = self._secret(doc, name, "promote")
            item = entry["versions"].get(version)
            if item is None:
                raise SecretNotFound(f"no version {version!r}", provider="file", operation="promote", name=name)
            if not item.get("enabled", True):
                raise SecretsConflict(
                    f"version {version!r} is disabled", provider="file", operation="promote", name=name
                )
            new = promote_stages(entry["stages"], version)
            if new != entry["stages"]:
                entry["stages"] = new
                self._save(doc)

    def discard(self, name: str, version: str) -> None:
        with self._lock:
            doc = self._load("discard")
            entry = self._secret(doc, name, "discard")
            item = entry["versions"].get(version)
            if item is None:
                raise SecretNotFound(f"no version {version!r}", provider="file", operation="discard", name=name)
            if entry["stages"].get(CURRENT) == version:
                raise SecretsConflict(
                    "cannot discard the current version", provider="file", operation="discard", name=name
                )
            entry["stages"] = discard_stages(entry["stages"], version)
            item["enabled"] = False
            self._save(doc)
