"""`make run`: start the local clouds, then write, list, copy and read objects on all three through
``core.storage``, and stop them. Everything printed is what the stores answered."""

from __future__ import annotations

import time
import uuid

from core.storage import ObjectStore, copy_object, open_store
from scripts import emulators


def open_demo_stores(emu: emulators.Emulators) -> dict[str, ObjectStore]:
    name = f"circle-demo-{uuid.uuid4().hex[:8]}"
    emu.create_buckets(name)
    options = emu.store_options()
    return {
        "aws s3 (moto)": open_store(f"s3://{name}", **options["s3"]),
        "azure blob (Azurite)": open_store(f"az://{name}", **options["az"]),
        "gcs (fake-gcs-server)": open_store(f"gs://{name}", **options["gs"]),
    }


def main() -> None:
    started = time.monotonic()
    with emulators.running() as emu:
        print(
            f"emulators up in {time.monotonic() - started:.1f}s: moto {emu.s3_endpoint}, "
            f"Azurite {emu.azure_endpoint}, fake-gcs-server {emu.gcs_endpoint}"
        )
        stores = open_demo_stores(emu)
        names = list(stores)
        for label, store in stores.items():
            info = store.put(
                "hello/world.txt",
                f"hello from {label}\n".encode(),
                content_type="text/plain",
                metadata={"origin": label.split()[0]},
            )
            print(f"put  {store.url}/hello/world.txt  {info.size} bytes  etag {info.etag}")
        for i, label in enumerate(names):
            src, dst = stores[label], stores[names[(i + 1) % len(names)]]
            info = copy_object(src, "hello/world.txt", dst, f"copies/from-{src.provider}.txt")
            print(f"copy {src.url} -> {dst.url}/copies/from-{src.provider}.txt  ({info.size} bytes, verified)")
        for store in stores.values():
            keys = [getattr(o, "key", None) for o in store.list()]
            print(f"list {store.url}: {keys}")
            for key in keys:
                if key and key.startswith("copies/"):
                    with store.get(key) as reader:
                        print(
                            f"read {store.url}/{key}: {reader.read().decode().strip()!r} "
                            f"(content-type {reader.info.content_type}, metadata {dict(reader.info.metadata)})"
                        )
        for store in stores.values():
            store.close()
    print(f"emulators stopped; demo took {time.monotonic() - started:.1f}s")


if __name__ == "__main__":
    main()
