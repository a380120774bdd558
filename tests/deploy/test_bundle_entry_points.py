"""Every declared entry point is real: build each bundle from examples/circle.toml, install only its
requirements.txt into a fresh Python 3.13 virtualenv (as `sam build`, the Functions remote build and
Cloud Build do), then, from the bundle directory, load every handler template.yaml names, every function
the Azure worker's own indexer finds in function_app.py and every --entry-point of the GCP deploy plan,
and invoke each with a recorded event against the emulators.

Heavy (three virtualenvs): one xdist group, so it runs on one worker beside the rest of the suite.
Virtualenvs are made with uv (a dev dependency) from its local cache, so a warm run needs no network;
pip is the fallback when uv is missing. The timings are printed (-s) and asserted under a budget."""

from __future__ import annotations

import contextlib
import copy
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import pytest

from scripts import deploy
from scripts.emulators import AZURITE_ACCOUNT, Emulators
from tests.deploy.cfn_eval import load

pytestmark = [pytest.mark.xdist_group("bundle-venvs"), pytest.mark.emulator, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "circle.toml"
EVENTS = ROOT / "tests" / "events" / "data"
ROTATION_EVENTS = ROOT / "tests" / "rotation" / "data"
DRIVER = (Path(__file__).with_name("bundle_driver.py")).read_text(encoding="utf-8")
# What each platform itself provides beside the bundle's requirements: the Azure Python worker
# (azure-functions-runtime indexes and calls the app). Lambda's runtime interface and functions-framework's
# server need nothing more (functions-framework is in the GCP requirements).
PLATFORM = {"aws": [], "azure": ["azure-functions-runtime"], "gcp": []}
SOURCE_S3, REPLICA = "circle-example-incoming", "circle-example-replica"  # the buckets examples/circle.toml names
VENV_BUDGET_SECONDS = 180.0  # all three environments, on 2 cores


def _recorded(directory: Path, name: str) -> Any:
    return json.loads((directory / name).read_text(encoding="utf-8"))


@dataclass
class Bundles:
    out: Path
    seconds: float


@dataclass
class Env:
    python: Path
    seconds: float


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> Bundles:
    out = tmp_path_factory.mktemp("dist")
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "scripts.bundle", "--out", str(out), "--config", str(EXAMPLE), "aws", "azure", "gcp"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return Bundles(out, time.monotonic() - started)


def _base_python() -> str:
    """The interpreter the platforms run: Python 3.13, outside any virtualenv."""
    base = getattr(sys, "_base_executable", "") or shutil.which("python3.13") or sys.executable
    return str(base)


def _make_venv(where: Path, requirements: Path, extra: list[str]) -> Env:
    started = time.monotonic()
    uv = Path(sys.executable).with_name("uv")
    python = where / "bin" / "python"
    if uv.exists():
        run = [str(uv), "pip", "install", "--quiet", "--python", str(python)]
        subprocess.run([str(uv), "venv", "--quiet", "--python", _base_python(), str(where)], check=True, timeout=120)
    else:  # no uv: the standard library's venv and pip (slower, same result)
        env = {**os.environ, "PYENV_VERSION": "3.13.0"}
        subprocess.run([_base_python(), "-m", "venv", str(where)], check=True, timeout=120, env=env)
        run = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*run, "-r", str(requirements), *extra], check=True, timeout=600, capture_output=True)
    return Env(python, time.monotonic() - started)


@pytest.fixture(scope="module")
def venvs(bundles: Bundles, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Env]]:
    made: dict[str, Env] = {}
    root = tmp_path_factory.mktemp("venvs")
    for cloud in ("aws", "azure", "gcp"):
        made[cloud] = _make_venv(root / cloud, bundles.out / cloud / "requirements.txt", PLATFORM[cloud])
    yield made


def test_virtualenvs_hold_only_the_bundle_requirements_and_build_in_budget(
    bundles: Bundles, venvs: dict[str, Env]
) -> None:
    timings = {cloud: round(env.seconds, 1) for cloud, env in venvs.items()}
    print(f"\nbundle build {bundles.seconds:.1f} s; virtualenvs (create + install) {timings} s")
    assert sum(timings.values()) < VENV_BUDGET_SECONDS, timings
    for cloud, env in venvs.items():
        code = "import importlib.util as u, json; print(json.dumps([u.find_spec(m) is not None for m in "
        code += "['pytest', 'moto', 'cfnlint', 'circle_core']]))"
        found = subprocess.run([str(env.python), "-c", code], capture_output=True, text=True, check=True)
        assert json.loads(found.stdout) == [False, False, False, False], cloud  # no dev tools, no editable core


# -- running the driver ---------------------------------------------------------------------------------
def _run(cloud: str, bundles: Bundles, venvs: dict[str, Env], emulators: Emulators, request: dict[str, Any]) -> Any:
    bundle = bundles.out / cloud
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "CIRCLE_CONFIG": str(bundle / "circle.toml"),  # where each platform puts the bundle's file
        **emulators.env(),
    }
    proc = subprocess.run(
        [str(venvs[cloud].python), "-c", DRIVER],
        input=json.dumps({"cloud": cloud, **request}),
        cwd=bundle,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    for name, loaded in result["loaded"].items():
        assert Path(loaded["file"]).resolve().is_relative_to(bundle.resolve()), (name, loaded["file"])
    return result


def _ok(call: dict[str, Any]) -> None:
    assert call["ok"], f"{call['label']}: {call.get('error')}\n{call.get('trace', '')}"


# -- the emulators: the buckets examples/circle.toml names ----------------------------------------------
@dataclass
class Clouds:
    s3: Any
    az: Any
    gs: Any
    emulators: Emulators


@pytest.fixture(scope="module")
def clouds(emulators: Emulators) -> Clouds:
    import boto3
    from azure.core.exceptions import ResourceExistsError
    from azure.storage.blob import BlobServiceClient
    from google.api_core.exceptions import Conflict
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage as gcs

    from core.storage import open_store

    s3 = boto3.client(
        "s3",
        endpoint_url=emulators.s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    if SOURCE_S3 not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
        s3.create_bucket(Bucket=SOURCE_S3)
    with contextlib.suppress(ResourceExistsError):
        BlobServiceClient.from_connection_string(emulators.azure_connection_string).create_container(REPLICA)
    with contextlib.suppress(Conflict):
        gcs.Client(
            project="circle-test",
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": emulators.gcs_endpoint},
        ).create_bucket(REPLICA)
    options: dict[str, Any] = emulators.store_options()
    return Clouds(
        open_store(f"s3://{SOURCE_S3}", **options["s3"]),
        open_store(f"az://{REPLICA}", **options["az"]),
        open_store(f"gs://{REPLICA}", **options["gs"]),
        emulators,
    )


# -- AWS ------------------------------------------------------------------------------------------------
def _template_handlers() -> list[str]:
    template = load(ROOT / "template.yaml")
    return sorted(
        res["Properties"]["Handler"]
        for res in template["Resources"].values()
        if res["Type"] == "AWS::Serverless::Function"
    )


def _s3_notification(clouds: Clouds, key: str) -> dict[str, Any]:
    """The recorded S3 notification (as SQS carries it), naming our object."""
    info = clouds.s3.head(key)
    body = json.loads(_recorded(EVENTS, "powertools_s3SqsEvent.json")["Records"][0]["body"])
    s3 = body["Records"][0]["s3"]
    s3["bucket"].update(name=SOURCE_S3, arn=f"arn:aws:s3:::{SOURCE_S3}")
    s3["object"].update(key=quote_plus(key, safe="/"), size=info.size, eTag=info.etag)
    s3["object"].pop("versionId", None)
    return dict(body)


def _eventbridge(clouds: Clouds, key: str) -> dict[str, Any]:
    """The recorded S3 -> EventBridge event (the existing-bucket path), naming our object."""
    info = clouds.s3.head(key)
    event = copy.deepcopy(_recorded(EVENTS, "powertools_s3EventBridgeNotificationObjectCreatedEvent.json"))
    event["resources"] = [f"arn:aws:s3:::{SOURCE_S3}"]
    event["detail"]["bucket"]["name"] = SOURCE_S3
    event["detail"]["object"].update(key=key, size=info.size, etag=info.etag)
    event["detail"]["object"].pop("version-id", None)
    return dict(event)


def _sqs(*bodies: dict[str, Any]) -> dict[str, Any]:
    template = _recorded(EVENTS, "powertools_s3SqsEvent.json")["Records"][0]
    records = []
    for body in bodies:
        record = copy.deepcopy(template)
        record.update(messageId=str(uuid.uuid4()), body=json.dumps(body))
        records.append(record)
    return {"Records": records}


def _apigw(method: str, path: str) -> dict[str, Any]:
    """The recorded API Gateway HTTP API (payload 2.0) event, for one request."""
    event = copy.deepcopy(_recorded(EVENTS, "powertools_apiGatewayProxyV2Event.json"))
    event.update(rawPath=path, rawQueryString="", body=None, isBase64Encoded=False)
    event["requestContext"]["http"].update(method=method, path=path)
    return dict(event)


def test_aws_bundle_handlers_load_and_answer_recorded_events(
    bundles: Bundles, venvs: dict[str, Env], clouds: Clouds
) -> None:
    from tests.rotation.conftest import aws_rig, step_event

    handlers = _template_handlers()
    assert handlers == [
        "aws_lambda.handlers.http",
        "aws_lambda.handlers.rotation",
        "aws_lambda.handlers.scheduled",
        "aws_lambda.handlers.storage_event",
    ]
    run = uuid.uuid4().hex[:8]
    direct, bridged = f"data/{run}/direct copy.txt", f"data/{run}/bridged.txt"
    clouds.s3.put(direct, b"via S3 -> SQS", content_type="text/plain")
    clouds.s3.put(bridged, b"via EventBridge -> SQS", content_type="text/plain")
    rig = aws_rig(clouds.emulators.s3_endpoint)
    user = rig.new_user()
    _, secret_arn = rig.new_secret({"kind": "aws_iam_access_key", "user_name": user})
    token = rig.start_rotation(secret_arn)
    calls = [
        {
            "label": "sqs",
            "handler": "aws_lambda.handlers.storage_event",
            "event": _sqs(_s3_notification(clouds, direct), _eventbridge(clouds, bridged)),
        },
        {
            "label": "rotation",
            "handler": "aws_lambda.handlers.rotation",
            "event": step_event("createSecret", secret_arn, token),
        },
        # the HTTP API (issue 10): the recorded API Gateway v2 event, for the public health route and for a
        # store route that the example configuration (no [http] table) denies by default
        {"label": "http-health", "handler": "aws_lambda.handlers.http", "event": _apigw("GET", "/health")},
        {"label": "http-denied", "handler": "aws_lambda.handlers.http", "event": _apigw("GET", "/stores")},
    ]
    calls += [  # jobs: the recorded EventBridge schedule event (runs reconciliation) and a Scheduler input
        {
            "label": "schedule",
            "handler": "aws_lambda.handlers.scheduled",
            "event": _recorded(EVENTS, "rust_example-eventbridge-schedule.json"),
        },
        {"label": "probe", "handler": "aws_lambda.handlers.scheduled", "event": {"job": "probe"}},
    ]
    result = _run("aws", bundles, venvs, clouds.emulators, {"handlers": handlers, "calls": calls})
    schedule, probe = result["calls"][-2:]
    _ok(schedule)
    assert schedule["result"]["job"] == "reconcile" and schedule["result"]["failed"] == 0
    _ok(probe)
    assert probe["result"]["down"] == 0, probe["result"]
    result["calls"] = result["calls"][:-2]
    assert all(v["callable"] for v in result["loaded"].values()), result["loaded"]
    sqs, rotation, health, denied = result["calls"]
    _ok(health)
    assert health["result"]["statusCode"] == 200 and json.loads(health["result"]["body"]) == {"ok": True}
    _ok(denied)
    assert denied["result"]["statusCode"] == 401
    _ok(sqs)
    assert sqs["result"] == {"batchItemFailures": []}
    for key, body in ((direct, b"via S3 -> SQS"), (bridged, b"via EventBridge -> SQS")):
        for target in (clouds.az, clouds.gs):
            assert target.get(f"mirror/{key}").read() == body
    _ok(rotation)
    assert rotation["result"]["outcome"] == "created"
    assert rig.stages(secret_arn)[token] == ["AWSPENDING"]
    assert len(rig.keys(user)) == 1  # the createSecret step minted the new key pair


# -- Azure ----------------------------------------------------------------------------------------------
def _blob_event(clouds: Clouds, key: str) -> dict[str, Any]:
    raw = copy.deepcopy(_recorded(EVENTS, "msdocs_eventgridschema_BlobCreated.json")[0])
    info = clouds.az.head(key)
    raw["topic"] = (
        "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/circle/providers/"
        f"Microsoft.Storage/storageAccounts/{AZURITE_ACCOUNT}"
    )
    raw["subject"] = f"/blobServices/default/containers/{REPLICA}/blobs/{key}"
    raw["data"].update(
        url=f"{clouds.emulators.azure_endpoint}/{AZURITE_ACCOUNT}/{REPLICA}/{key}",
        eTag=f'"{info.etag}"',
        contentLength=info.size,
        contentType=info.content_type,
    )
    return dict(raw)


def test_azure_bundle_functions_index_and_answer_recorded_events(
    bundles: Bundles, venvs: dict[str, Env], clouds: Clouds
) -> None:
    key = f"uploads/{uuid.uuid4().hex[:8]}/from-azure.txt"
    clouds.az.put(key, b"via Event Grid -> queue", content_type="text/plain")
    events = {
        "blob": _blob_event(clouds, key),
        "keyvault": _recorded(EVENTS, "keyvault-SecretNewVersionCreated.eventgrid-schema.json")[0],
        "validation": _recorded(EVENTS, "msdocs_SubscriptionValidationEvent.json"),
        "timer": _recorded(EVENTS, "funclib_timer_TimerRequest_payload.json"),  # jobs
        "job": {"job": "probe"},  # jobs: a jobs-queue message
    }
    result = _run("azure", bundles, venvs, clouds.emulators, {"events": events})
    loaded = result["loaded"]
    # The deploy plan routes blob events through the queue to this function, and Key Vault events here.
    queue = loaded.get(deploy.AZURE_QUEUE_FUNCTION)
    assert queue is not None, f"no {deploy.AZURE_QUEUE_FUNCTION} function indexed: {sorted(loaded)}"
    assert queue["bindings"] == ["queueTrigger"]
    assert queue["queue"] == "%CIRCLE_EVENTS_QUEUE%" and queue["connection"] == "AzureWebJobsStorage"
    assert "eventGridTrigger" in loaded[deploy.AZURE_KEYVAULT_FUNCTION]["bindings"]
    assert {"reconcile_timer", "probe_timer", "jobs_queue"} <= set(loaded)  # jobs
    calls = {c["label"]: c for c in result["calls"]}
    assert set(calls) == set(loaded)  # every indexed function was invoked
    for call in calls.values():
        assert call["kind"] != "unknown", call
        if call["kind"] == "rotate":
            _ok(call)
            assert call["status"] == 400 and "vault" in call["body"]
        elif call["kind"] == "http":
            _ok(call)
            assert (call["status"], json.loads(call["body"])) == (200, {"ok": True})
        elif call["kind"] in ("timer", "jobs"):  # jobs: reconcile_timer, probe_timer, jobs_queue
            _ok(call)
        elif call["kind"] == "validation":
            _ok(call)
            expected = _recorded(EVENTS, "msdocs_SubscriptionValidationResponse.json")
            assert (call["status"], json.loads(call["body"])) == (200, expected)
        else:
            _ok(call)
    assert clouds.s3.get(f"from-azure/{key}").read() == b"via Event Grid -> queue"


# -- GCP ------------------------------------------------------------------------------------------------
def _entry_points() -> list[str]:
    plan = deploy.plan_gcp(deploy.Settings({}))
    return sorted({a.split("=", 1)[1] for s in plan.steps for a in s.argv if a.startswith("--entry-point=")})


def test_gcp_bundle_entry_points_answer_recorded_events(
    bundles: Bundles, venvs: dict[str, Env], clouds: Clouds
) -> None:
    assert _entry_points() == sorted(
        [deploy.GCP_ROTATION_TARGET, deploy.GCP_STORAGE_TARGET, "http", "scheduled"]  # http: issue 10; jobs
    )
    key = f"uploads/{uuid.uuid4().hex[:8]}/from-gcs.txt"
    clouds.gs.put(key, b"via Eventarc", content_type="text/plain")
    info = clouds.gs.head(key)
    data = copy.deepcopy(_recorded(EVENTS, "cloudevents_binary_storage_StorageObjectData-simple.json"))
    data.update(
        bucket=REPLICA,
        name=key,
        size=str(info.size),
        generation=info.version,
        id=f"{REPLICA}/{key}/{info.version}",
        etag=info.etag,
        contentType=info.content_type,
    )
    message = copy.deepcopy(_recorded(ROTATION_EVENTS, "secretmanager-SECRET_ROTATE.pubsub-message.constructed.json"))
    message["message"]["attributes"]["eventType"] = "SECRET_UPDATE"  # acknowledged and ignored: no Secret Manager
    message["message"].update(messageId="1", publishTime="2026-12-01T00:00:00Z")
    calls = [
        {
            "label": "storage",
            "target": deploy.GCP_STORAGE_TARGET,
            "attributes": {
                "id": uuid.uuid4().hex,
                "specversion": "1.0",
                "type": "google.cloud.storage.object.v1.finalized",
                "source": f"//storage.googleapis.com/projects/_/buckets/{REPLICA}",
                "subject": f"objects/{key}",
                "time": "2026-12-01T10:00:00Z",
            },
            "data": data,
        },
        {
            "label": "rotation",
            "target": deploy.GCP_ROTATION_TARGET,
            "attributes": {
                "id": uuid.uuid4().hex,
                "specversion": "1.0",
                "type": "google.cloud.pubsub.topic.v1.messagePublished",
                "source": "//pubsub.googleapis.com/projects/p/topics/circle-secret-rotation",
                "time": "2026-12-01T10:00:00Z",
            },
            "data": message,
            "base64_data": {"name": "projects/p/secrets/my-secret"},
        },
        {"label": "http", "target": "http", "signature": "http", "path": "/health"},  # the HTTP API (issue 10)
    ]
    calls.append(  # jobs: Cloud Scheduler -> Pub/Sub, the recorded messagePublished data carrying a job request
        {
            "label": "scheduled",
            "target": "scheduled",
            "attributes": {
                "id": uuid.uuid4().hex,
                "specversion": "1.0",
                "type": "google.cloud.pubsub.topic.v1.messagePublished",
                "source": "//pubsub.googleapis.com/projects/p/topics/circle-jobs",
                "time": "2026-12-01T10:00:00Z",
            },
            "data": copy.deepcopy(_recorded(EVENTS, "cloudevents_binary_pubsub_MessagePublishedData-complex.json")),
            "base64_data": {"job": "probe"},
        }
    )
    result = _run("gcp", bundles, venvs, clouds.emulators, {"calls": calls})
    assert set(result["loaded"]) == set(_entry_points())
    for call in result["calls"]:
        assert call["status"] == 200, call
    answers = {call["label"]: call for call in result["calls"]}
    assert json.loads(answers["http"]["body"]) == {"ok": True}  # the HTTP API's /health (issue 10)
    assert clouds.s3.get(f"from-gcs/{key}").read() == b"via Eventarc"
