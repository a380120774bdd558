"""Local stand-ins for the two deliveries the emulators cannot make: Azurite emits no Event Grid events
and fake-gcs-server sends no Cloud Storage notifications. Each watcher polls its bucket's listing, and for
every object that appeared, changed (new ETag) or disappeared it sends the event the cloud would send,
in that cloud's documented shape:

- Azure: an Event Grid-schema ``Microsoft.Storage.BlobCreated``/``BlobDeleted`` event written as a
  message to the Azurite queue ``storage_queue`` is bound to (what an Event Grid subscription with a
  storage-queue destination does);
- GCP: a CloudEvent in binary mode (``ce-*`` headers, ``StorageObjectData`` body) POSTed to the real
  functions-framework server (what Eventarc does): ``object.v1.finalized`` for a new generation, then
  ``object.v1.deleted`` for the generation it replaced (Cloud Storage sends both on an overwrite of a
  bucket without versioning), and ``object.v1.deleted`` for a removed object.

Polling sees the latest state only: two writes between polls give one event, as coalesced deliveries
can on the real clouds (replication converges on the current state, so nothing is lost)."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from core.storage import ObjectInfo, ObjectStore

Report = Callable[..., None]
POLL_SECONDS = 0.25


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class Watcher(threading.Thread):
    """Poll ``store``'s listing; call ``changed(key, info_or_None, previous)`` for each difference."""

    cloud = ""

    def __init__(self, store: ObjectStore, bucket: str, report: Report) -> None:
        super().__init__(name=f"{self.cloud}-watcher", daemon=True)
        self.store, self.bucket, self.report = store, bucket, report
        self.stopping = threading.Event()
        self.seen: dict[str, ObjectInfo] = {}

    def run(self) -> None:
        while not self.stopping.wait(POLL_SECONDS):
            try:
                self.poll()
            except Exception as exc:  # an emulator going away at shutdown, or a real problem: say it
                if not self.stopping.is_set():
                    self.report("watcher_error", cloud=self.cloud, reason=f"{type(exc).__name__}: {exc}")

    def poll(self) -> None:
        now = {o.key: o for o in self.store.list() if isinstance(o, ObjectInfo)}
        for key, info in now.items():
            before = self.seen.get(key)
            if before is None or before.etag != info.etag:
                self.changed(key, info, before)
        for key in self.seen.keys() - now.keys():
            self.changed(key, None, self.seen[key])
        self.seen = now

    def changed(self, key: str, info: ObjectInfo | None, before: ObjectInfo | None) -> None:
        raise NotImplementedError


class AzureEventGrid(Watcher):
    """Event Grid's storage-queue destination: one Event Grid-schema event per queue message."""

    cloud = "azure"

    def __init__(self, store: ObjectStore, bucket: str, report: Report, *, queue: Any, blob_endpoint: str) -> None:
        super().__init__(store, bucket, report)
        self.queue, self.blob_endpoint = queue, blob_endpoint.rstrip("/")

    def changed(self, key: str, info: ObjectInfo | None, before: ObjectInfo | None) -> None:
        container = self.bucket
        data: dict[str, Any] = {
            "api": "PutBlob" if info else "DeleteBlob",
            "clientRequestId": str(uuid.uuid4()),
            "requestId": str(uuid.uuid4()),
            "contentType": (info or before).content_type if (info or before) else None,  # type: ignore[union-attr]
            "blobType": "BlockBlob",
            "url": f"{self.blob_endpoint}/{container}/{key}",
            "sequencer": f"{int(datetime.now(UTC).timestamp() * 1e6):032x}",
        }
        if info is not None:
            data.update(eTag=f'"{info.etag}"', contentLength=info.size)
        event = {
            "topic": "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/circle-sandbox"
            "/providers/Microsoft.Storage/storageAccounts/devstoreaccount1",
            "subject": f"/blobServices/default/containers/{container}/blobs/{key}",
            "eventType": "Microsoft.Storage.BlobCreated" if info else "Microsoft.Storage.BlobDeleted",
            "eventTime": _now(),
            "id": str(uuid.uuid4()),
            "data": data,
            "dataVersion": "",
            "metadataVersion": "1",
        }
        self.queue.send_message(json.dumps(event))
        self.report("event", cloud="azure", key=key, type=event["eventType"])


class GcsEventarc(Watcher):
    """Eventarc's delivery to a Cloud Functions (2nd gen) service: binary-mode CloudEvents over HTTP."""

    cloud = "gcp"

    def __init__(self, store: ObjectStore, bucket: str, report: Report, *, function_url: str) -> None:
        super().__init__(store, bucket, report)
        self.function_url = function_url

    def changed(self, key: str, info: ObjectInfo | None, before: ObjectInfo | None) -> None:
        if info is not None:
            self.post("finalized", key, self.store.head(key))
        if before is not None:
            self.post("deleted", key, before)

    def post(self, kind: str, key: str, info: ObjectInfo) -> None:
        bucket = self.bucket
        generation = info.version or "1"
        data = {
            "kind": "storage#object",
            "bucket": bucket,
            "name": key,
            "id": f"{bucket}/{key}/{generation}",
            "generation": generation,
            "metageneration": "1",
            "size": str(info.size),
            "etag": info.etag,
            "contentType": info.content_type,
            "updated": _now(),
            "timeCreated": _now(),
            "storageClass": "STANDARD",
        }
        headers = {
            "ce-specversion": "1.0",
            "ce-id": uuid.uuid4().hex,
            "ce-type": f"google.cloud.storage.object.v1.{kind}",
            "ce-source": f"//storage.googleapis.com/projects/_/buckets/{bucket}",
            "ce-subject": f"objects/{key}",
            "ce-time": _now(),
            "Content-Type": "application/json",
        }
        request = urllib.request.Request(
            self.function_url, data=json.dumps(data).encode(), headers=headers, method="POST"
        )
        status, reason = 0, ""
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                status = response.status
        except urllib.error.HTTPError as exc:  # Eventarc retries a non-2xx answer
            status, reason = exc.code, exc.read().decode(errors="replace")[:300]
        self.report("event", cloud="gcp", key=key, type=headers["ce-type"])
        self.report("batch", cloud="gcp", messages=1, failed=[headers["ce-id"]] if status >= 300 else [], reason=reason)
