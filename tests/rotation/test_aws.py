"""The Secrets Manager four-step contract end to end on moto: Secrets Manager, IAM, STS and S3 are the
moto server's; the steps run through ``aws_lambda.rotation.rotation`` with the real event shape."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from aws_lambda.rotation import rotation
from core.secrets import SecretsInvalidArgument
from core.secrets.rotation.errors import RotationRefused, RotationTestFailed
from core.storage import open_store
from core.storage.errors import StorageError
from tests.rotation.conftest import AwsRig, LambdaContext, moto_auth, step_event

STEPS = ("createSecret", "setSecret", "testSecret", "finishSecret")


def run_steps(secret_id: str, token: str, steps: tuple[str, ...] = STEPS) -> list[dict[str, object]]:
    return [rotation(step_event(step, secret_id, token), LambdaContext()) for step in steps]


@pytest.fixture
def seeded(aws: AwsRig) -> tuple[str, str, str]:
    """(user, secret name, secret arn): a secret seeded the way template.yaml seeds it."""
    user = aws.new_user()
    name, arn = aws.new_secret({"kind": "aws_iam_access_key", "user_name": user})
    return user, name, arn


def test_four_steps_rotate_the_key_and_the_new_key_reads_and_writes_s3(
    aws: AwsRig, seeded: tuple[str, str, str]
) -> None:
    user, _, arn = seeded
    bucket = aws.new_bucket()
    token = aws.start_rotation(arn)
    assert aws.stages(arn)[token] == ["AWSPENDING"]

    outcomes = [r["outcome"] for r in run_steps(arn, token)]

    assert outcomes == ["created", "set", "tested", "finished"]
    assert aws.stages(arn)[token] == ["AWSCURRENT"]
    doc = aws.value(arn)
    assert doc["kind"] == "aws_iam_access_key" and doc["user_name"] == user and doc["rotation_token"] == token
    assert aws.keys(user) == {doc["access_key_id"]: "Active"}
    aws.iam.put_user_policy(
        UserName=user,
        PolicyName="s3",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
        ),
    )
    store = open_store(
        f"s3://{bucket}",
        access_key_id=doc["access_key_id"],
        secret_access_key=doc["secret_access_key"],
        endpoint_url=aws.endpoint,
    )
    bogus = open_store(
        f"s3://{bucket}", access_key_id="AKIAIOSFODNN7NOTREAL", secret_access_key="x" * 40, endpoint_url=aws.endpoint
    )
    with moto_auth(aws.endpoint):
        store.put("rotated/hello.txt", b"written with the rotated key")
        assert store.get("rotated/hello.txt").read() == b"written with the rotated key"
        with pytest.raises(StorageError):  # proves moto is really checking keys in this window
            bogus.put("rotated/nope.txt", b"x")
    assert [getattr(i, "key", None) for i in store.list("rotated/")] == ["rotated/hello.txt"]


def test_every_step_is_idempotent(aws: AwsRig, seeded: tuple[str, str, str]) -> None:
    user, _, arn = seeded
    token = aws.start_rotation(arn)
    for step in STEPS:
        first = rotation(step_event(step, arn, token), LambdaContext())
        keys, stages = aws.keys(user), aws.stages(arn)
        again = rotation(step_event(step, arn, token), LambdaContext())
        assert aws.keys(user) == keys and aws.stages(arn) == stages, step
        assert again["version"] in (first["version"], token)
    assert aws.stages(arn)[token] == ["AWSCURRENT"]
    assert len(aws.keys(user)) == 1


def test_three_rotations_in_a_row_never_exceed_two_keys(aws: AwsRig, seeded: tuple[str, str, str]) -> None:
    user, _, arn = seeded
    seen: list[str] = []
    for _ in range(3):
        token = aws.start_rotation(arn)
        run_steps(arn, token)  # LimitExceeded from IAM would raise here
        current = aws.value(arn)["access_key_id"]
        seen.append(current)
        assert len(aws.keys(user)) <= 2
        assert aws.keys(user)[current] == "Active"
    assert len(set(seen)) == 3
    # dual strategy: the previous key is still valid (readers holding it keep working until they refresh)
    previous = aws.value(arn, "AWSPREVIOUS")["access_key_id"]
    assert previous == seen[1] and aws.keys(user) == {seen[1]: "Active", seen[2]: "Active"}


def test_snake_case_step_names_are_accepted(aws: AwsRig, seeded: tuple[str, str, str]) -> None:
    _, _, arn = seeded
    token = aws.start_rotation(arn)
    run_steps(arn, token, ("create_secret", "set_secret", "test_secret", "finish_secret"))
    assert aws.stages(arn)[token] == ["AWSCURRENT"]


def test_failed_test_step_keeps_current_and_cleans_the_pending_key(
    aws: AwsRig, seeded: tuple[str, str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    user, name, arn = seeded
    run_steps(arn, aws.start_rotation(arn))
    before_doc, before_keys = aws.value(arn), aws.keys(user)
    config = tmp_path / "circle.toml"
    config.write_text(f"""
[[rotation]]
secrets = "aws-sm://us-east-1"
secret = "{name}"
rotator = "aws_iam_access_key"
[rotation.params]
user_name = "{user}"
probe_bucket = "no-such-bucket-for-the-new-key"
""")
    monkeypatch.setenv("CIRCLE_CONFIG", str(config))
    token = aws.start_rotation(arn)
    run_steps(arn, token, ("createSecret", "setSecret"))
    pending = aws.value(arn, "AWSPENDING")["access_key_id"]
    assert pending in aws.keys(user)

    with pytest.raises(RotationTestFailed) as failure:
        rotation(step_event("testSecret", arn, token), LambdaContext())

    assert "current credential is untouched" in str(failure.value)
    assert aws.value(arn) == before_doc  # current untouched
    assert "AWSPENDING" not in aws.stages(arn).get(token, [])  # pending version unstaged
    assert aws.keys(user) == before_keys  # the new IAM key is gone
    with pytest.raises(RotationRefused):  # finishing the failed rotation is refused
        rotation(step_event("finishSecret", arn, token), LambdaContext())
    monkeypatch.delenv("CIRCLE_CONFIG")
    retry = aws.start_rotation(arn)  # Secrets Manager can start again
    run_steps(arn, retry)
    assert aws.stages(arn)[retry] == ["AWSCURRENT"]


def test_crash_between_steps_then_resume(aws: AwsRig, seeded: tuple[str, str, str]) -> None:
    user, _, arn = seeded
    run_steps(arn, aws.start_rotation(arn))
    token = aws.start_rotation(arn)
    run_steps(arn, token, ("createSecret",))
    pending_key = aws.value(arn, "AWSPENDING")["access_key_id"]
    # the function dies here; Secrets Manager retries from createSecret with the same token
    run_steps(arn, token, ("createSecret", "setSecret", "testSecret"))
    assert aws.value(arn, "AWSPENDING")["access_key_id"] == pending_key  # no second key was minted
    # crash inside finishSecret, after the promotion but before the old key was retired
    old_current = aws.value(arn)["access_key_id"]
    current_version = next(v for v, labels in aws.stages(arn).items() if "AWSCURRENT" in labels)
    aws.sm.update_secret_version_stage(
        SecretId=arn, VersionStage="AWSCURRENT", MoveToVersionId=token, RemoveFromVersionId=current_version
    )
    run_steps(arn, token, ("finishSecret",))
    assert aws.value(arn)["access_key_id"] == pending_key
    assert aws.value(arn, "AWSPREVIOUS")["access_key_id"] == old_current
    assert set(aws.keys(user)) == {pending_key, old_current}


def test_refuses_when_rotation_is_not_enabled(aws: AwsRig, seeded: tuple[str, str, str]) -> None:
    user, _, arn = seeded
    token = "11111111-2222-3333-4444-555555555555"
    aws.sm.put_secret_value(SecretId=arn, ClientRequestToken=token, SecretString="{}", VersionStages=["AWSPENDING"])
    before = aws.stages(arn)
    with pytest.raises(RotationRefused, match="not enabled"):
        rotation(step_event("createSecret", arn, token), LambdaContext())
    assert aws.stages(arn) == before and aws.keys(user) == {}


def test_refuses_a_token_that_is_not_pending(aws: AwsRig, seeded: tuple[str, str, str]) -> None:
    user, _, arn = seeded
    first = aws.start_rotation(arn)
    run_steps(arn, first)
    second = aws.start_rotation(arn)
    run_steps(arn, second)
    keys, stages = aws.keys(user), aws.stages(arn)
    assert stages[first] == ["AWSPREVIOUS"]
    for token in ("99999999-8888-7777-6666-555555555555", first):
        for step in STEPS:
            with pytest.raises(RotationRefused):
                rotation(step_event(step, arn, token), LambdaContext())
    assert aws.keys(user) == keys and aws.stages(arn) == stages


def test_bad_events_are_typed_errors(aws: AwsRig, seeded: tuple[str, str, str]) -> None:
    _, _, arn = seeded
    token = aws.start_rotation(arn)
    with pytest.raises(SecretsInvalidArgument, match="unknown rotation step"):
        rotation(step_event("rotateSecret", arn, token), LambdaContext())
    with pytest.raises(SecretsInvalidArgument, match="ClientRequestToken"):
        rotation({"Step": "createSecret", "SecretId": arn}, LambdaContext())
    assert aws.stages(arn)[token] == ["AWSPENDING"]


# -- pending versions Secrets Manager created itself -------------------------------------------------------
def start_test_only_rotation(aws: AwsRig, secret_id: str) -> str:
    """What Secrets Manager does for ``RotateImmediatelyOnUpdate: false`` (template.yaml's schedule, or a
    rotation configured in the console without "rotate immediately"): it creates the AWSPENDING version
    itself, holding a copy of the secret's value, and invokes only ``testSecret`` with its token."""
    token = str(uuid.uuid4())
    aws.sm.rotate_secret(
        SecretId=secret_id,
        ClientRequestToken=token,
        RotationLambdaARN=aws.lambda_arn,
        RotationRules={"AutomaticallyAfterDays": 30},
        RotateImmediately=False,
    )
    return token


@pytest.fixture
def keyed(aws: AwsRig) -> tuple[str, str, dict[str, str]]:
    """(user, secret arn, document): an operator stored an existing key pair, then enabled rotation.
    (moto copies the value a secret was *created* with into the pending version it makes, so the copy
    equals the current value only for a secret whose current value is its first one.)"""
    user = aws.new_user()
    key = aws.iam.create_access_key(UserName=user)["AccessKey"]
    doc = {
        "kind": "aws_iam_access_key",
        "user_name": user,
        "access_key_id": key["AccessKeyId"],
        "secret_access_key": key["SecretAccessKey"],
    }
    _, arn = aws.new_secret(doc)
    return user, arn, doc


def test_test_secret_on_the_pending_copy_secrets_manager_made(
    aws: AwsRig, keyed: tuple[str, str, dict[str, str]]
) -> None:
    user, arn, doc = keyed
    keys = aws.keys(user)
    token = start_test_only_rotation(aws, arn)
    stages = aws.stages(arn)
    assert stages[token] == ["AWSPENDING"]
    assert aws.value(arn, "AWSPENDING") == doc  # the service's copy: not written by the engine

    result = rotation(step_event("testSecret", arn, token), LambdaContext())

    assert result["outcome"] == "tested" and result["version"] == token
    assert aws.keys(user) == keys == {doc["access_key_id"]: "Active"}  # nothing minted, nothing revoked
    assert aws.value(arn) == doc and aws.stages(arn) == stages


def test_all_four_steps_on_the_token_secrets_manager_created(
    aws: AwsRig, keyed: tuple[str, str, dict[str, str]]
) -> None:
    """The AWS protocol on a version that already holds a value: createSecret keeps it; setSecret,
    testSecret and finishSecret work on the version carrying the token; nothing is revoked; the next
    rotation then rotates as usual."""
    user, arn, doc = keyed
    old_version = next(v for v, labels in aws.stages(arn).items() if "AWSCURRENT" in labels)
    token = start_test_only_rotation(aws, arn)

    outcomes = [r["outcome"] for r in run_steps(arn, token)]

    assert outcomes == ["adopted", "set", "tested", "finished"]
    assert aws.stages(arn)[token] == ["AWSCURRENT"] and aws.stages(arn)[old_version] == ["AWSPREVIOUS"]
    assert aws.value(arn) == doc and aws.keys(user) == {doc["access_key_id"]: "Active"}
    assert [r["outcome"] for r in run_steps(arn, token)] == ["already-current"] * 4  # redelivered: no-op
    assert aws.keys(user) == {doc["access_key_id"]: "Active"}

    following = aws.start_rotation(arn)
    assert [r["outcome"] for r in run_steps(arn, following)] == ["created", "set", "tested", "finished"]
    new = aws.value(arn)["access_key_id"]
    assert new != doc["access_key_id"]
    assert aws.keys(user) == {doc["access_key_id"]: "Active", new: "Active"}  # dual: the old key stays


def test_test_only_rotation_of_a_seed_document(aws: AwsRig, seeded: tuple[str, str, str]) -> None:
    """template.yaml seeds {"kind", "user_name"} and schedules with RotateImmediatelyOnUpdate: false, so
    the very first call the function gets is testSecret on a copy of the seed: nothing to test yet."""
    user, _, arn = seeded
    token = start_test_only_rotation(aws, arn)
    result = rotation(step_event("testSecret", arn, token), LambdaContext())
    assert result["outcome"] == "tested"
    assert aws.keys(user) == {}
    first = aws.start_rotation(arn)  # the first scheduled rotation then mints the first key
    assert [r["outcome"] for r in run_steps(arn, first)] == ["created", "set", "tested", "finished"]
    assert aws.keys(user) == {aws.value(arn)["access_key_id"]: "Active"}


def test_a_failing_pending_copy_is_unstaged_and_nothing_is_revoked(
    aws: AwsRig, keyed: tuple[str, str, dict[str, str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    user, arn, doc = keyed
    name = aws.sm.describe_secret(SecretId=arn)["Name"]
    config = tmp_path / "circle.toml"
    config.write_text(f"""
[[rotation]]
secrets = "aws-sm://us-east-1"
secret = "{name}"
rotator = "aws_iam_access_key"
[rotation.params]
user_name = "{user}"
probe_bucket = "no-such-bucket-for-this-key"
""")
    monkeypatch.setenv("CIRCLE_CONFIG", str(config))
    token = start_test_only_rotation(aws, arn)

    with pytest.raises(RotationTestFailed, match="current credential is untouched"):
        rotation(step_event("testSecret", arn, token), LambdaContext())

    assert aws.keys(user) == {doc["access_key_id"]: "Active"}  # the copy's key is the current one: kept
    assert aws.value(arn) == doc
    assert "AWSPENDING" not in aws.stages(arn).get(token, [])


def test_a_pending_copy_without_a_credential_never_replaces_one(aws: AwsRig, seeded: tuple[str, str, str]) -> None:
    """moto copies the seed (the value the secret was created with) even after rotations: a pending
    version holding no key while the current one holds a key fails its test and is never promoted."""
    user, _, arn = seeded
    run_steps(arn, aws.start_rotation(arn))
    keys, current = aws.keys(user), aws.value(arn)
    token = start_test_only_rotation(aws, arn)
    assert "access_key_id" not in aws.value(arn, "AWSPENDING")

    with pytest.raises(RotationTestFailed, match="would lose the credential"):
        rotation(step_event("testSecret", arn, token), LambdaContext())
    with pytest.raises(RotationRefused):  # unstaged: finishing it is refused
        rotation(step_event("finishSecret", arn, token), LambdaContext())
    assert aws.keys(user) == keys and aws.value(arn) == current
