"""template.yaml: cfn-lint (with the SAM transform, offline) must be clean, and the wiring the design
depends on must be there: S3 -> SQS with partial batch failures, a dead-letter queue, a visibility
timeout of six function timeouts, least-privilege policies, and native Secrets Manager rotation."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.cfn_eval import ACCOUNT, Evaluator, load

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
CFN_LINT = Path(sys.executable).with_name("cfn-lint")
PARAMS = {"SourceBucketName": "circle-src", "RotatedUserName": "circle-replicator"}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load(TEMPLATE)


def _ev(template: dict[str, Any], partition: str = "aws", **params: Any) -> Evaluator:
    return Evaluator(template, {**PARAMS, **params}, partition=partition)


def _lint(*paths: Path) -> list[dict[str, Any]]:
    proc = subprocess.run(
        [str(CFN_LINT), "--format", "json", "--include-checks", "I", "--", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.stdout.strip(), f"cfn-lint printed nothing (rc={proc.returncode}): {proc.stderr}"
    matches: list[dict[str, Any]] = json.loads(proc.stdout)
    return matches


def _statements(resource: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for doc in resource["Properties"]["Policies"] for s in doc["Statement"]]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _effective_timeout(template: dict[str, Any], function: str) -> int:
    props = template["Resources"][function]["Properties"]
    return int(props.get("Timeout", template["Globals"]["Function"]["Timeout"]))


def test_cfn_lint_is_clean_and_catches_a_broken_copy(template: dict[str, Any], tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(TEMPLATE.read_text().replace("Runtime: python3.13", "Runtime: python2.7"))
    matches = _lint(TEMPLATE, broken)
    ours = [m for m in matches if Path(m["Filename"]).name == "template.yaml"]
    assert ours == [], "\n".join(f"{m['Rule']['Id']} {m['Message']}" for m in ours)
    assert any(Path(m["Filename"]) == broken and m["Level"] == "Error" for m in matches), matches


def test_sam_transform_globals_and_parameters(template: dict[str, Any]) -> None:
    assert template["Transform"] == "AWS::Serverless-2016-10-31"
    fn = template["Globals"]["Function"]
    assert fn["Runtime"] in {"python3.12", "python3.13"}
    assert fn["Architectures"] == ["arm64"]
    assert fn["CodeUri"].rstrip("/") == "dist/aws"
    env = fn["Environment"]["Variables"]
    assert env["CIRCLE_CONFIG"] == {"Ref": "ConfigPath"}
    assert {"CIRCLE_ENV", "POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "LOG_LEVEL"} <= set(env)
    params = template["Parameters"]
    for name in (
        "SourceBucketName",
        "TargetBucketNames",
        "ConfigPath",
        "RotationSecretArn",
        "RotatedUserName",
        "RotationScheduleExpression",
    ):
        assert name in params, name
    assert params["TargetBucketNames"]["Type"] == "CommaDelimitedList"


def test_sqs_event_source_reports_batch_item_failures(template: dict[str, Any]) -> None:
    fn = template["Resources"]["StorageEventFunction"]["Properties"]
    assert fn["Handler"] == "aws_lambda.handlers.storage_event"
    (event,) = fn["Events"].values()
    assert event["Type"] == "SQS"
    props = event["Properties"]
    assert props["Queue"] == {"Fn::GetAtt": ["EventsQueue", "Arn"]}
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert 1 <= props["BatchSize"] <= 10_000
    assert props["MaximumBatchingWindowInSeconds"] >= 0


def test_events_queue_dead_letters_and_outlives_six_function_timeouts(template: dict[str, Any]) -> None:
    queue = template["Resources"]["EventsQueue"]["Properties"]
    redrive = queue["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}
    assert redrive["maxReceiveCount"] == 5
    assert queue["VisibilityTimeout"] >= 6 * _effective_timeout(template, "StorageEventFunction")
    dlq = template["Resources"]["DeadLetterQueue"]["Properties"]
    assert dlq["MessageRetentionPeriod"] > queue["MessageRetentionPeriod"]


def test_bucket_notifies_the_queue_without_a_dependency_cycle(template: dict[str, Any]) -> None:
    ev = _ev(template)
    bucket = ev.resource("SourceBucket")
    assert bucket is not None
    assert bucket["Properties"]["BucketName"] == "circle-src"
    assert bucket["DependsOn"] == "EventsQueuePolicy"
    configs = bucket["Properties"]["NotificationConfiguration"]["QueueConfigurations"]
    assert {c["Event"] for c in configs} == {"s3:ObjectCreated:*", "s3:ObjectRemoved:*"}
    assert all(c["Queue"] == "<GetAtt:EventsQueue.Arn>" for c in configs)
    policy = ev.resource("EventsQueuePolicy")
    assert policy is not None
    # The policy must not reference the bucket resource (cycle); it names the bucket ARN from the parameter.
    assert 'SourceBucket"' not in json.dumps(template["Resources"]["EventsQueuePolicy"])
    (stmt,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert stmt["Principal"] == {"Service": "s3.amazonaws.com"}
    assert stmt["Action"] == "sqs:SendMessage"
    assert stmt["Condition"]["ArnLike"]["aws:SourceArn"] == "arn:aws:s3:::circle-src"
    assert stmt["Condition"]["StringEquals"]["aws:SourceAccount"] == ACCOUNT


@pytest.mark.parametrize(
    ("partition", "targets", "expected"),
    [
        ("aws", "t-one,t-two", ["arn:aws:s3:::t-one", "arn:aws:s3:::t-two"]),
        ("aws-cn", "t-one", ["arn:aws-cn:s3:::t-one"]),
        ("aws-us-gov", "a,b,c", ["arn:aws-us-gov:s3:::a", "arn:aws-us-gov:s3:::b", "arn:aws-us-gov:s3:::c"]),
    ],
)
def test_storage_function_reads_sources_and_writes_targets_only(
    template: dict[str, Any], partition: str, targets: str, expected: list[str]
) -> None:
    fn = _ev(template, partition, TargetBucketNames=targets).resource("StorageEventFunction")
    assert fn is not None
    source = f"arn:{partition}:s3:::circle-src"
    writes, reads = set(), set()
    for stmt in _statements(fn):
        assert stmt["Effect"] == "Allow"
        actions = _as_list(stmt["Action"])
        resources = _as_list(stmt["Resource"])
        assert "*" not in resources and not any(a.endswith(":*") for a in actions), stmt
        s3_actions = {a for a in actions if a.startswith("s3:")}
        if s3_actions & {"s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"}:
            writes.update(resources)
        elif s3_actions:
            reads.update(resources)
    assert writes == {f"{arn}/*" for arn in expected}
    assert reads == {source, f"{source}/*", *expected}


def test_storage_function_without_s3_targets_gets_no_s3_write(template: dict[str, Any]) -> None:
    fn = _ev(template, TargetBucketNames="").resource("StorageEventFunction")
    assert fn is not None
    actions = {a for s in _statements(fn) for a in _as_list(s["Action"])}
    assert not actions & {"s3:PutObject", "s3:DeleteObject"}


@pytest.mark.parametrize("secret_arn", ["", "arn:aws:secretsmanager:us-east-1:123456789012:secret:circle-AbCdEf"])
def test_rotation_is_scoped_to_the_secret_and_the_key_user(template: dict[str, Any], secret_arn: str) -> None:
    ev = _ev(template, RotationSecretArn=secret_arn)
    secret = secret_arn or "<Ref:RotationSecret>"
    assert (ev.resource("RotationSecret") is None) == bool(secret_arn)
    fn = ev.resource("RotationFunction")
    assert fn is not None
    assert fn["Properties"]["Handler"] == "aws_lambda.handlers.rotation"
    by_action: dict[str, list[Any]] = {}
    for stmt in _statements(fn):
        for action in _as_list(stmt["Action"]):
            by_action.setdefault(action, []).extend(_as_list(stmt["Resource"]))
    for action in ("DescribeSecret", "GetSecretValue", "PutSecretValue", "UpdateSecretVersionStage"):
        assert by_action.pop(f"secretsmanager:{action}") == [secret]
    assert by_action.pop("secretsmanager:GetRandomPassword") == ["*"]  # no resource type exists for it
    user = f"arn:aws:iam::{ACCOUNT}:user/circle-replicator"
    for action in ("CreateAccessKey", "DeleteAccessKey", "ListAccessKeys", "UpdateAccessKey"):
        assert by_action.pop(f"iam:{action}") == [user]
    assert by_action == {}, f"unexpected permissions: {by_action}"

    permission = ev.resource("RotationInvokePermission")
    assert permission is not None
    props = permission["Properties"]
    assert permission["Type"] == "AWS::Lambda::Permission"
    assert props["Principal"] == "secretsmanager.amazonaws.com"
    assert props["Action"] == "lambda:InvokeFunction"
    assert props["FunctionName"] == "<GetAtt:RotationFunction.Arn>"
    assert props["SourceArn"] == secret

    schedule = ev.resource("RotationSchedule")
    assert schedule is not None
    assert schedule["Type"] == "AWS::SecretsManager::RotationSchedule"
    assert schedule["DependsOn"] == "RotationInvokePermission"
    assert schedule["Properties"]["SecretId"] == secret
    assert schedule["Properties"]["RotationLambdaARN"] == "<GetAtt:RotationFunction.Arn>"
    assert schedule["Properties"]["RotationRules"]["ScheduleExpression"] == "rate(30 days)"


def test_storage_function_reads_only_its_secrets(template: dict[str, Any]) -> None:
    extra = "arn:aws:secretsmanager:us-east-1:123456789012:secret:azure-key-XyZ"
    fn = _ev(template, ExtraSecretArns=extra).resource("StorageEventFunction")
    assert fn is not None
    secrets = {
        r
        for s in _statements(fn)
        if any(a.startswith("secretsmanager:") for a in _as_list(s["Action"]))
        for r in _as_list(s["Resource"])
    }
    assert secrets == {"<Ref:RotationSecret>", extra}


def test_http_api_is_optional(template: dict[str, Any]) -> None:
    assert _ev(template).resource("HttpApiFunction") is None
    fn = _ev(template, EnableHttpApi="true").resource("HttpApiFunction")
    assert fn is not None
    assert fn["Properties"]["Handler"] == "aws_lambda.handlers.http_api"
    assert {e["Type"] for e in fn["Properties"]["Events"].values()} == {"HttpApi"}
