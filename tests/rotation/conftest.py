"""Rotation fixtures: an AWS rig on the session's moto server (Secrets Manager, IAM, S3, STS, and a
stub Lambda so ``RotateSecret`` stages versions exactly as Secrets Manager does before it invokes the
rotation function), plus helpers shared by the trigger tests."""

from __future__ import annotations

import copy
import io
import json
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

DATA = Path(__file__).resolve().parent / "data"


def sample(name: str) -> Any:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


@dataclass
class AwsRig:
    endpoint: str
    lambda_arn: str
    sm: Any
    iam: Any
    s3: Any
    created_users: list[str] = field(default_factory=list)

    def client(self, service: str, **creds: Any) -> Any:
        creds = creds or {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
        session: Any = boto3.session.Session()
        return session.client(service, endpoint_url=self.endpoint, region_name="us-east-1", **creds)

    def new_user(self) -> str:
        user = f"circle-{uuid.uuid4().hex[:10]}"
        self.iam.create_user(UserName=user)
        self.created_users.append(user)
        return user

    def new_bucket(self) -> str:
        bucket = f"rot-{uuid.uuid4().hex[:12]}"
        self.s3.create_bucket(Bucket=bucket)
        return bucket

    def new_secret(self, value: dict[str, Any]) -> tuple[str, str]:
        """(name, arn) of a new secret holding ``value`` (rotation not enabled yet)."""
        name = f"circle/rot-{uuid.uuid4().hex[:10]}"
        arn = self.sm.create_secret(Name=name, SecretString=json.dumps(value))["ARN"]
        return name, arn

    def start_rotation(self, secret_id: str) -> str:
        """What Secrets Manager does on a schedule: enable rotation (first time), stage a new version
        as AWSPENDING without a value, then invoke the function (a stub here: the test plays it)."""
        token = str(uuid.uuid4())
        self.sm.rotate_secret(
            SecretId=secret_id,
            ClientRequestToken=token,
            RotationLambdaARN=self.lambda_arn,
            RotationRules={"AutomaticallyAfterDays": 30},
        )
        return token

    def keys(self, user: str) -> dict[str, str]:
        return {k["AccessKeyId"]: k["Status"] for k in self.iam.list_access_keys(UserName=user)["AccessKeyMetadata"]}

    def stages(self, secret_id: str) -> dict[str, list[str]]:
        return dict(self.sm.describe_secret(SecretId=secret_id)["VersionIdsToStages"])

    def value(self, secret_id: str, stage: str = "AWSCURRENT") -> dict[str, Any]:
        return dict(json.loads(self.sm.get_secret_value(SecretId=secret_id, VersionStage=stage)["SecretString"]))


@contextmanager
def moto_auth(endpoint: str) -> Iterator[None]:
    """Make moto check signatures and IAM policies (it does not by default), then turn it off again.
    The switch is server-wide: keep whatever runs inside in one test, and never leave it on."""
    requests.post(f"{endpoint}/moto-api/reset-auth", data=b"0", timeout=10).raise_for_status()
    try:
        yield
    finally:
        requests.post(f"{endpoint}/moto-api/reset-auth", data=b"inf", timeout=10).raise_for_status()


def step_event(step: str, secret_id: str, token: str) -> dict[str, Any]:
    """The real event shape (the AWS sample), with this secret and token."""
    event = copy.deepcopy(sample("secretsmanager-rotation-createSecret.json"))
    event.update({"Step": step, "SecretId": secret_id, "ClientRequestToken": token})
    return event


class LambdaContext:
    function_name = "circle-rotation"
    aws_request_id = "00000000-0000-0000-0000-000000000000"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:circle-rotation"


def aws_rig(endpoint: str) -> AwsRig:
    """An ``AwsRig`` on the moto server at ``endpoint`` (also used by the secrets and storage tests)."""
    # moto invokes a rotation Lambda from RotateSecret; the docker-less stub lets it stage the version
    requests.post(f"{endpoint}/moto-api/config", json={"lambda": {"use_docker": False}}, timeout=10)
    kw: dict[str, Any] = {
        "endpoint_url": endpoint,
        "region_name": "us-east-1",
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
    }
    session = boto3.session.Session()
    iam, lam = session.client("iam", **kw), session.client("lambda", **kw)
    role = iam.create_role(RoleName=f"rot-{uuid.uuid4().hex[:10]}", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as z:
        z.writestr("handler.py", "def rotation(event, context):\n    return None\n")
    arn = lam.create_function(
        FunctionName=f"rot-{uuid.uuid4().hex[:10]}",
        Runtime="python3.13",
        Role=role,
        Handler="handler.rotation",
        Code={"ZipFile": code.getvalue()},
    )["FunctionArn"]
    return AwsRig(endpoint, arn, session.client("secretsmanager", **kw), iam, session.client("s3", **kw))


@pytest.fixture
def aws(emulators: Any, emulator_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsRig]:
    monkeypatch.delenv("CIRCLE_CONFIG", raising=False)
    yield aws_rig(emulators.s3_endpoint)
