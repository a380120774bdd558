"""A ``secret://`` reference that cannot be resolved fails the targets that use it, with the reason,
and every other target of the event still replicates. Through the Lambda adapter (an SQS batch, the
Powertools JSON lines it prints) with the source and the locked target on moto, the good target in
memory; once with a ``[secrets] url`` that lacks the secret, once with no secrets store configured."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from aws_lambda import handlers
from core.secrets import unregister_secret_store
from core.storage import ObjectStore, open_store
from tests.adapters.lambda_context import LambdaContext
from tests.adapters.test_aws_lambda_batches import _lines, _sqs
from tests.adapters.test_aws_lambda_batches import _s3_body as _recorded_s3_body

CREDS: dict[str, Any] = {"region_name": "us-east-1", "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}

CREDENTIALS = {"access_key_id": "testing", "secret_access_key": "testing"}

pytestmark = pytest.mark.usefixtures("aws_logging")


def _s3_body(bucket: str, key: str) -> str:
    """The recorded S3 notification, from the stores' region (us-east-1)."""
    event = json.loads(_recorded_s3_body(bucket, key))
    event["Records"][0]["awsRegion"] = "us-east-1"
    return json.dumps(event)


@pytest.fixture(autouse=True)
def _no_vault(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """``secret://vault/...`` resolves only through what each test configures."""
    for name in ("CIRCLE_SECRETS_URL", "CIRCLE_SECRETS_VAULT", "CIRCLE_ENV", "CIRCLE_DLQ_URL"):
        monkeypatch.delenv(name, raising=False)
    unregister_secret_store("vault")
    yield
    unregister_secret_store("vault")


def _deploy(emulators: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, secrets: str) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:10]
    source, locked = f"sec-src-{tag}", f"sec-locked-{tag}"
    s3 = boto3.client("s3", endpoint_url=emulators.s3_endpoint, **CREDS)
    for bucket in (source, locked):
        s3.create_bucket(Bucket=bucket)
    good = f"memory://sec-good-{tag}"
    moto = f'endpoint_url = "{emulators.s3_endpoint}"\nregion = "us-east-1"\n'
    (tmp_path / "circle.toml").write_text(
        secrets
        + f'[stores.src]\nurl = "s3://{source}"\n{moto}access_key_id = "testing"\nsecret_access_key = "testing"\n'
        f'[stores.locked]\nurl = "s3://{locked}"\n{moto}'
        'access_key_id = "secret://vault/replica-key#id"\nsecret_access_key = "secret://vault/replica-key#secret"\n'
        f'[stores.good]\nurl = "{good}"\n'
        '[[replication]]\nsource = "src"\ntargets = ["locked", "good"]\n'
    )
    monkeypatch.setenv("CIRCLE_CONFIG", str(tmp_path / "circle.toml"))
    src: ObjectStore = open_store(
        f"s3://{source}", endpoint_url=emulators.s3_endpoint, region="us-east-1", **CREDENTIALS
    )
    return {"source": source, "locked": locked, "src": src, "good": open_store(good), "s3": s3}


@pytest.mark.parametrize(
    ("secrets", "reason"),
    [
        # the store names a secrets service, which has no such secret
        ('[secrets]\nurl = "env://CIRCLE_TEST_UNSET_"\n', "SecretNotFound"),
        # no secrets service at all: the hint names circle.toml's [secrets] url, the variable as override
        ("", "set [secrets] url in circle.toml (the CIRCLE_SECRETS_URL environment variable overrides it)"),
    ],
    ids=["missing-secret", "no-secrets-url"],
)
def test_an_unresolvable_reference_fails_only_its_target(
    emulators: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    secrets: str,
    reason: str,
) -> None:
    monkeypatch.delenv("CIRCLE_TEST_UNSET_REPLICA_KEY", raising=False)
    env = _deploy(emulators, tmp_path, monkeypatch, secrets)
    env["src"].put("docs/a.txt", b"alpha")
    capsys.readouterr()
    answer = handlers.storage_event({"Records": [_sqs("m-1", _s3_body(env["source"], "docs/a.txt"))]}, LambdaContext())
    # The other target replicated; the locked one holds nothing.
    assert env["good"].get("docs/a.txt").read() == b"alpha"
    assert env["s3"].list_objects_v2(Bucket=env["locked"]).get("KeyCount") == 0
    # A configuration failure cannot succeed by redelivery; with no dead-letter sink configured the
    # record goes back to SQS, whose redrive policy dead-letters it.
    assert [f["itemIdentifier"] for f in answer["batchItemFailures"]] == ["m-1"]
    lines = _lines(capsys.readouterr().out)
    outcome_lines = [line for line in lines if line.get("name") == "circle.replication" and "outcomes" in line]
    assert len(outcome_lines) == 1, lines
    outcomes = {o["target"]: o for o in outcome_lines[0]["outcomes"]}
    assert outcomes["good"]["action"] == "copied"
    assert outcomes["locked"]["action"] == "failed" and outcomes["locked"]["failure"] == "configuration"
    assert reason in outcomes["locked"]["reason"]
    # The reason reaches the batch failure line too.
    failed = [line for line in lines if line.get("message") == "SQS record to batchItemFailures"]
    assert len(failed) == 1 and reason in failed[0]["reason"]


def test_a_later_event_replicates_once_the_secret_exists(
    emulators: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The failure is not cached: the same warm runtime resolves the reference when the secret appears."""
    monkeypatch.delenv("CIRCLE_TEST_LATE_REPLICA_KEY", raising=False)
    env = _deploy(emulators, tmp_path, monkeypatch, '[secrets]\nurl = "env://CIRCLE_TEST_LATE_"\n')
    env["src"].put("k", b"v")
    first = handlers.storage_event({"Records": [_sqs("m-1", _s3_body(env["source"], "k"))]}, LambdaContext())
    assert first["batchItemFailures"]
    monkeypatch.setenv("CIRCLE_TEST_LATE_REPLICA_KEY", json.dumps({"id": "testing", "secret": "testing"}))
    again = handlers.storage_event({"Records": [_sqs("m-1", _s3_body(env["source"], "k"))]}, LambdaContext())
    assert again == {"batchItemFailures": []}
    assert env["s3"].get_object(Bucket=env["locked"], Key="k")["Body"].read() == b"v"
