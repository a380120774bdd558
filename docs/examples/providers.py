"""docs/storage/*.md, as a runnable file: opening each provider's store. ``main()`` runs the local
stores (``PYTHONPATH=. python docs/examples/providers.py``); tests/docs runs ``azure`` and ``gcs`` on
Azurite and fake-gcs-server, and ``s3_profiles`` (which only builds clients: no request is sent)."""

from __future__ import annotations

import tempfile
from typing import Any

from core.storage import AlreadyExists, ObjectStore


def s3_profiles() -> list[ObjectStore]:
    # --8<-- [start:s3]
    from core.storage import open_store

    aws = open_store("s3://my-bucket/reports", region="eu-west-1")
    spaces = open_store("s3://my-space", profile="digitalocean", region="nyc3")
    oci = open_store("s3://my-bucket", profile="oci", region="us-ashburn-1", namespace="axaxnpcrorw5")
    cos = open_store("s3://photos-1250000000", profile="tencent", region="ap-guangzhou")
    # --8<-- [end:s3]
    return [aws, spaces, oci, cos]


def azure(connection_string: str) -> ObjectStore:
    data = b"\xff\xd8 not really a jpeg"
    # --8<-- [start:azure]
    from core.storage import open_store

    store = open_store("az://photos/2024", connection_string=connection_string)  # "DefaultEndpointsProtocol=https;..."
    store.put("cat.jpg", data, content_type="image/jpeg", metadata={"owner_id": "42"})
    # --8<-- [end:azure]
    return store


def gcs(**gcs_options: Any) -> ObjectStore:
    # --8<-- [start:gcs]
    from core.storage import open_store

    store = open_store("gs://my-bucket/reports", **gcs_options)  # e.g. credentials_file="/secrets/sa.json"
    store.put("2024/q1.csv", b"...", content_type="text/csv")
    # --8<-- [end:gcs]
    return store


def local(folder: str) -> ObjectStore:
    # --8<-- [start:file]
    from core.storage import open_store

    store = open_store(f"file://{folder}")  # e.g. "file:///var/lib/circle/data"; created if missing
    store.put("reports/2024.csv", b"a,b\n", content_type="text/csv", metadata={"owner": "ops"})
    store.put("locks/job-1", b"me", if_none_match="*")  # create-only: AlreadyExists if taken
    # --8<-- [end:file]
    return store


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = local(f"{tmp}/data")
        try:
            store.put("locks/job-1", b"you", if_none_match="*")
        except AlreadyExists:
            print("locks/job-1 is taken")
        print(sorted(o.key for o in store.list()))  # type: ignore[union-attr]
    print([s.url for s in s3_profiles()])


if __name__ == "__main__":
    main()
