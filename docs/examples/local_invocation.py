"""docs/local-invocation.md, as a runnable file: each cloud's real entry point invoked locally with the
vendors' sample payloads from tests/events/data/, against the emulators.

    PYTHONPATH=. python docs/examples/local_invocation.py   # starts moto, Azurite, fake-gcs-server itself

With ``CIRCLE_EXAMPLE_ENDPOINTS="<s3> <azure blob> <gcs>"`` (e.g. the endpoints ``python -m
scripts.emulators`` printed) it uses those emulators instead of starting its own."""

from __future__ import annotations

import json
import os
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "tests" / "events" / "data"


def sample(name: str) -> Any:
    return json.loads((SAMPLES / name).read_text())


# --8<-- [start:lambda-context]
@dataclass
class LambdaContext:
    """The Lambda context's documented attributes; the handler reads the name and the time left."""

    function_name: str = "circle-local"
    function_version: str = "$LATEST"
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:circle-local"
    memory_limit_in_mb: int = 512
    aws_request_id: str = "local-1"
    log_group_name: str = "/aws/lambda/circle-local"
    log_stream_name: str = "local"
    deadline: float = time.monotonic() + 300  # a 5-minute function timeout

    def get_remaining_time_in_millis(self) -> int:
        return int((self.deadline - time.monotonic()) * 1000)


# --8<-- [end:lambda-context]


def invoke_aws(bucket: str, key: str) -> dict[str, Any]:
    # --8<-- [start:aws]
    from aws_lambda import handlers

    event = sample("powertools_s3Event.json")  # an S3 notification, as S3 invokes the function
    event["Records"][0]["s3"]["bucket"]["name"] = bucket
    event["Records"][0]["s3"]["object"]["key"] = key
    sqs_batch = {"Records": [{"messageId": "m-1", "body": json.dumps(event), "eventSource": "aws:sqs"}]}
    response = handlers.storage_event(sqs_batch, LambdaContext(deadline=time.monotonic() + 300))
    assert response == {"batchItemFailures": []}  # what the SQS event source mapping reads
    # --8<-- [end:aws]
    return response


def invoke_gcp(bucket: str, key: str) -> int:
    # --8<-- [start:gcp]
    import functions_framework

    app = functions_framework.create_app(
        target="storage_event", source=str(ROOT / "gcp_functions" / "main.py"), signature_type="cloudevent"
    )
    data = sample("cloudevents_binary_storage_StorageObjectData-simple.json") | {"bucket": bucket, "name": key}
    headers = {  # binary mode, as Eventarc delivers it
        "ce-specversion": "1.0",
        "ce-id": uuid.uuid4().hex,
        "ce-type": "google.cloud.storage.object.v1.finalized",
        "ce-source": f"//storage.googleapis.com/projects/_/buckets/{bucket}",
        "ce-subject": f"objects/{key}",
        "ce-time": "2026-11-28T10:00:00Z",
    }
    response = app.test_client().post("/", json=data, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)  # anything else: Eventarc retries
    # --8<-- [end:gcp]
    return response.status_code


def invoke_azure(container: str, key: str, blob_endpoint: str) -> None:
    # --8<-- [start:azure]
    import azure.functions as func

    import function_app  # the bundle root's app, as the worker loads it

    [event] = sample("msdocs_eventgridschema_BlobCreated.json")  # what Event Grid writes to the queue
    event["topic"] = event["topic"].replace("my-storage-account", "devstoreaccount1")  # Azurite's account
    event["subject"] = f"/blobServices/default/containers/{container}/blobs/{key}"
    event["data"]["url"] = f"{blob_endpoint}/{container}/{key}"
    functions = {f.get_function_name(): f.get_user_function() for f in function_app.app.get_functions()}
    functions["storage_queue"](func.QueueMessage(id="q-1", body=json.dumps(event).encode()))  # raises to retry
    # --8<-- [end:azure]


def write_config(path: Path, bucket: str, emulators: Any) -> None:
    options = emulators.store_options()
    lines = []
    for name, url, opts in (
        ("aws", f"s3://{bucket}", options["s3"]),
        ("azure", f"az://{bucket}", options["az"]),
        ("gcp", f"gs://{bucket}", options["gs"]),
    ):
        lines.append(f"[stores.{name}]\nurl = {json.dumps(url)}")
        lines += [f"{k} = {json.dumps(v)}" for k, v in opts.items()]
    for source in ("aws", "azure", "gcp"):
        targets = [t for t in ("aws", "azure", "gcp") if t != source]
        lines.append(
            f'[[replication]]\nsource = "{source}"\nprefix = "in-{source}/"\ntargets = {json.dumps(targets)}\n'
            f'target_prefix = "from-{source}/"'
        )
    path.write_text("\n".join(lines) + "\n")


def invoke_all(emulators: Any, workdir: Path) -> dict[str, list[str]]:
    """Write one object per cloud, invoke that cloud's adapter with its sample event, and return what
    each cloud holds afterwards."""
    from core.storage import open_store

    bucket = f"local-{uuid.uuid4().hex[:8]}"
    emulators.create_buckets(bucket)
    os.environ["CIRCLE_CONFIG"] = str(workdir / "circle.toml")
    write_config(workdir / "circle.toml", bucket, emulators)
    options = emulators.store_options()
    stores = {
        "aws": open_store(f"s3://{bucket}", **options["s3"]),
        "azure": open_store(f"az://{bucket}", **options["az"]),
        "gcp": open_store(f"gs://{bucket}", **options["gs"]),
    }
    for cloud, store in stores.items():
        store.put(f"in-{cloud}/hello.txt", f"hello from {cloud}".encode(), content_type="text/plain")
    invoke_aws(bucket, "in-aws/hello.txt")
    invoke_azure(bucket, "in-azure/hello.txt", f"{emulators.azure_endpoint}/devstoreaccount1")
    invoke_gcp(bucket, "in-gcp/hello.txt")
    return {cloud: sorted(o.key for o in store.list()) for cloud, store in stores.items()}  # type: ignore[union-attr]


def main() -> None:
    from contextlib import nullcontext

    from scripts import emulators

    given = os.environ.get("CIRCLE_EXAMPLE_ENDPOINTS", "").split()  # "<s3> <azure blob> <gcs>": running ones
    with (
        nullcontext(emulators.Emulators(*given)) if given else emulators.running() as emu,
        tempfile.TemporaryDirectory() as tmp,
    ):
        os.environ.update(emu.env())
        for cloud, keys in invoke_all(emu, Path(tmp)).items():
            print(f"{cloud}: {keys}")


if __name__ == "__main__":
    main()
