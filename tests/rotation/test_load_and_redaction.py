"""Rotation under load (a reader keeps working while keys rotate in a loop) and log redaction (no
credential value reaches any log record, stdout or stderr during rotation runs)."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from pathlib import Path

import pytest

from aws_lambda.rotation import rotation
from core.secrets import SecretStore, open_secrets
from core.secrets.rotation import DUAL, RotationEngine, RotationTestFailed, rotator_for
from core.secrets.rotation.rotators.hmac_api_key import sign, verify
from core.storage import open_store
from tests.rotation.conftest import AwsRig, LambdaContext, step_event
from tests.rotation.test_aws import run_steps, start_test_only_rotation


class SignedApi:
    """A stand-in for Circle Core's HTTP API: verifies the HMAC signature against the keys it reads from
    the secret with no cache (the server's view), then reads/writes a real store."""

    def __init__(self, secrets: SecretStore, name: str) -> None:
        self.secrets, self.name = secrets, name
        self.store = open_store(f"memory://api-{uuid.uuid4().hex[:8]}")

    def call(self, key_id: str, key: str, op: str, path: str, body: bytes = b"") -> bytes | None:
        payload = f"{op} {path}".encode() + body
        if not verify(self.secrets, self.name, payload, sign(key, payload), key_id=key_id):
            raise PermissionError("signature rejected")
        if op == "PUT":
            self.store.put(path, body)
            return None
        return self.store.get(path).read()


def test_reader_never_fails_while_keys_rotate(tmp_path: Path) -> None:
    """Dual strategy: a cached key stays valid for a whole rotation, so one refresh always cures a
    rejection. (The single strategy revokes at once; a reader can race it, see docs/rotation.md.)"""
    path = tmp_path / "secrets.json"
    server_view = open_secrets(f"file://{path}", max_age=0)
    client_view = open_secrets(f"file://{path}", max_age=60)  # the reader's cache: stale on purpose
    name = "api/key"
    server_view.put(name, {"kind": "hmac_api_key"})
    engine = RotationEngine(server_view, name, rotator_for("hmac_api_key"), DUAL)
    engine.rotate()
    api = SignedApi(server_view, name)
    stop = threading.Event()
    failures: list[str] = []
    stats = {"ops": 0, "refreshes": 0, "rotations": 0}

    def reader() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            body = f"payload {n}".encode()
            for op, expected in (("PUT", None), ("GET", body)):
                for attempt in (1, 2):
                    doc = client_view.get_json(name)
                    try:
                        got = api.call(doc["key_id"], doc["key"], op, f"obj/{n % 7}", body)
                    except PermissionError:
                        if attempt == 2:
                            failures.append(f"{op} rejected after refresh")
                        client_view.invalidate(name)  # the credential may have just rotated: re-read it
                        stats["refreshes"] += 1
                        continue
                    if got != expected:
                        failures.append(f"{op} returned the wrong body")
                    stats["ops"] += 1
                    break

    thread = threading.Thread(target=reader)
    thread.start()
    deadline = time.monotonic() + 2.0
    try:
        while time.monotonic() < deadline:
            engine.rotate()
            stats["rotations"] += 1
            time.sleep(0.02)
    finally:
        stop.set()
        thread.join(10)
    assert failures == []
    assert stats["rotations"] >= 5 and stats["ops"] >= 20
    assert stats["refreshes"] >= 1  # the cache really went stale and was refreshed on rejection


def test_no_secret_value_in_logs_or_output(
    aws: AwsRig, tmp_path: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    user = aws.new_user()
    _, arn = aws.new_secret({"kind": "aws_iam_access_key", "user_name": user})
    for _ in range(2):
        run_steps(arn, aws.start_rotation(arn))
    errors: list[str] = []
    copy = start_test_only_rotation(aws, arn)  # moto's copy of the seed: no key, over a keyed current
    with pytest.raises(RotationTestFailed) as failed:
        rotation(step_event("testSecret", arn, copy), LambdaContext())
    errors.append(f"{failed.value!s} {failed.value!r}")
    token = aws.start_rotation(arn)
    run_steps(arn, token, ("createSecret",))
    # the adopted path: a secret holding a key pair, Secrets Manager's own pending copy, four steps
    other = aws.new_user()
    key = aws.iam.create_access_key(UserName=other)["AccessKey"]
    _, keyed = aws.new_secret(
        {
            "kind": "aws_iam_access_key",
            "user_name": other,
            "access_key_id": key["AccessKeyId"],
            "secret_access_key": key["SecretAccessKey"],
        }
    )
    results = run_steps(keyed, start_test_only_rotation(aws, keyed))
    assert [r["outcome"] for r in results] == ["adopted", "set", "tested", "finished"]
    secrets = open_secrets(f"file://{tmp_path / 's.json'}", max_age=0)
    secrets.put("api", {"kind": "hmac_api_key"})
    engine = RotationEngine(secrets, "api", rotator_for("hmac_api_key"), DUAL)
    for _ in range(3):
        engine.rotate()

    values: set[str] = set()
    for secret in (arn, keyed):
        for version in aws.sm.list_secret_version_ids(SecretId=secret)["Versions"]:
            doc = json.loads(aws.sm.get_secret_value(SecretId=secret, VersionId=version["VersionId"])["SecretString"])
            values |= {doc[k] for k in ("access_key_id", "secret_access_key") if k in doc}
    for version in secrets.versions("api"):
        doc = json.loads(secrets.get("api", version=version.id)) if version.enabled else {}
        values |= {doc["key"]} if "key" in doc else set()
    assert len(values) >= 8
    out, err = capfd.readouterr()
    records = caplog.records
    assert records, "the rotation logged nothing: the test would prove nothing"
    haystack = "\n".join(
        [out, err, caplog.text]
        + [repr(r.__dict__) for r in records]
        + [r.getMessage() for r in records]
        + [repr(engine), repr(secrets), repr(results)]
        + errors
    )
    leaked = [v[:4] + "..." for v in values if v in haystack]
    assert leaked == []
    assert LambdaContext.function_name  # the AWS path above ran through the Lambda entry
