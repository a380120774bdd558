"""template.yaml: cfn-lint (offline) must be clean, the SAM translator (what `sam validate`/`sam deploy`
run) must transform it, and the wiring the design depends on must be there: S3 -> SQS (or an existing
bucket through EventBridge) with partial batch failures, a dead-letter queue with an alarm topic, a
visibility timeout of six function timeouts, JSON logs at INFO, least-privilege policies (nothing the
providers do not call, secrets and KMS keys named by the configuration only), and native rotation."""

from __future__ import annotations

import copy
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


def _secret_grants(fn: dict[str, Any]) -> tuple[set[str], set[str]]:
    stmts = [s for s in _statements(fn) if any(a.startswith("secretsmanager:") for a in _as_list(s["Action"]))]
    actions = {a for s in stmts for a in _as_list(s["Action"])}
    return actions, {r for s in stmts for r in _as_list(s["Resource"])}


def test_storage_function_reads_exactly_the_configured_secrets(template: dict[str, Any]) -> None:
    one = "arn:aws:secretsmanager:us-east-1:123456789012:secret:circle-azure-replica-connection-??????"
    two = "arn:aws:secretsmanager:us-east-1:123456789012:secret:gcs-key-AbCdEf"
    fn = _ev(template, ConfigSecretArns=f"{one},{two}").resource("StorageEventFunction")
    assert fn is not None
    assert _secret_grants(fn) == ({"secretsmanager:GetSecretValue"}, {one, two})
    none = _ev(template).resource("StorageEventFunction")
    assert none is not None
    assert _secret_grants(none) == (set(), set())  # not even the rotated secret, unless the config names it


def test_every_function_has_a_real_handler(template: dict[str, Any]) -> None:
    """HttpApiFunction is back with a real handler (issue 10); its front door: tests/http_api/test_front_door.py."""
    functions = {k: v for k, v in template["Resources"].items() if v["Type"] == "AWS::Serverless::Function"}
    # ScheduledFunction: jobs (aws_lambda.handlers.scheduled)
    assert set(functions) == {"StorageEventFunction", "RotationFunction", "HttpApiFunction", "ScheduledFunction"}
    assert functions["HttpApiFunction"]["Properties"]["Handler"] == "aws_lambda.handlers.http"


@pytest.mark.parametrize(
    "function", ["StorageEventFunction", "RotationFunction", "HttpApiFunction", "ScheduledFunction"]
)
def test_functions_log_json_at_info(template: dict[str, Any], function: str) -> None:
    """Without ApplicationLogLevel the Lambda runtime leaves the root logger at WARNING: INFO outcome
    lines would vanish. JSON lets CloudWatch filter by level and field."""
    logging = _ev(template).resource(function)["Properties"]["LoggingConfig"]  # type: ignore[index]
    assert logging["LogFormat"] == "JSON"
    assert logging["ApplicationLogLevel"] == "INFO"
    assert logging["SystemLogLevel"] in {"INFO", "WARN"}
    assert logging["LogGroup"].startswith("<Ref:")
    lambda_levels = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"}
    assert set(template["Parameters"]["LogLevel"]["AllowedValues"]) <= lambda_levels


def test_the_jobs_function_has_the_malloc_settings_of_every_cloud(template: dict[str, Any]) -> None:
    """The same glibc settings as the Azure and GCP jobs functions (scripts/deploy.py JOBS_MALLOC): large
    copies in a reconciliation stay within 64 MiB of growth only with them (docs/benchmarks.md)."""
    from scripts import deploy

    variables = template["Resources"]["ScheduledFunction"]["Properties"]["Environment"]["Variables"]
    malloc = {k: v for k, v in variables.items() if k.startswith("MALLOC_")}
    assert malloc == dict(setting.split("=", 1) for setting in deploy.JOBS_MALLOC)


def test_circle_env_defaults_to_the_base_file(template: dict[str, Any]) -> None:
    assert template["Parameters"]["CircleEnv"]["Default"] == ""
    assert template["Globals"]["Function"]["Environment"]["Variables"]["CIRCLE_ENV"] == {"Ref": "CircleEnv"}


def test_created_bucket_aborts_incomplete_multipart_uploads(template: dict[str, Any]) -> None:
    bucket = _ev(template).resource("SourceBucket")
    assert bucket is not None
    rules = bucket["Properties"]["LifecycleConfiguration"]["Rules"]
    aborts = [r for r in rules if "AbortIncompleteMultipartUpload" in r]
    assert aborts and aborts[0]["Status"] == "Enabled"
    assert 1 <= aborts[0]["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] <= 7


def test_existing_bucket_is_attached_through_an_eventbridge_rule(template: dict[str, Any]) -> None:
    ev = _ev(template, CreateSourceBucket="false")
    assert ev.resource("SourceBucket") is None  # the stack never creates (or owns) an existing bucket
    rule = ev.resource("ExistingBucketRule")
    assert rule is not None and rule["Type"] == "AWS::Events::Rule"
    pattern = rule["Properties"]["EventPattern"]
    assert pattern["source"] == ["aws.s3"]
    assert set(pattern["detail-type"]) == {"Object Created", "Object Deleted"}
    assert pattern["detail"]["bucket"]["name"] == ["circle-src"]
    (target,) = rule["Properties"]["Targets"]
    assert target["Arn"] == "<GetAtt:EventsQueue.Arn>"
    policy = ev.resource("EventsQueuePolicy")
    assert policy is not None
    (stmt,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert stmt["Principal"] == {"Service": "events.amazonaws.com"}
    assert stmt["Action"] == "sqs:SendMessage"
    rule_arn = f"arn:aws:events:us-east-1:{ACCOUNT}:rule/{rule['Properties']['Name']}"
    assert stmt["Condition"]["ArnEquals"]["aws:SourceArn"] == rule_arn
    # The same function reads the existing bucket.
    fn = ev.resource("StorageEventFunction")
    assert fn is not None
    reads = {r for st in _statements(fn) if "s3:GetObject" in _as_list(st["Action"]) for r in _as_list(st["Resource"])}
    assert "arn:aws:s3:::circle-src/*" in reads
    assert _ev(template).resource("ExistingBucketRule") is None


def test_dead_letter_alarm_notifies_a_topic_and_optionally_an_email(template: dict[str, Any]) -> None:
    alarm = _ev(template).resource("DeadLetterQueueAlarm")
    assert alarm is not None
    assert alarm["Properties"]["AlarmActions"] == ["<Ref:AlarmTopic>"]
    assert _ev(template).resource("AlarmTopic") is not None
    assert _ev(template).resource("AlarmEmailSubscription") is None
    sub = _ev(template, AlarmEmail="ops@example.com").resource("AlarmEmailSubscription")
    assert sub is not None
    assert sub["Properties"] == {"TopicArn": "<Ref:AlarmTopic>", "Protocol": "email", "Endpoint": "ops@example.com"}


def test_storage_function_grants_exactly_what_the_providers_call(template: dict[str, Any]) -> None:
    """s3.py calls GetObject/HeadObject, PutObject (and multipart), CopyObject, DeleteObject(s),
    AbortMultipartUpload and ListObjectsV2: nothing reads tags or versions by id or lists versions. The
    adapter sends permanent failures to the dead-letter queue itself (CIRCLE_DLQ_URL)."""
    kms = "arn:aws:kms:us-east-1:123456789012:key/1111"
    fn = _ev(template, TargetBucketNames="t1", KmsKeyArns=kms).resource("StorageEventFunction")
    assert fn is not None
    actions = {a for st in _statements(fn) for a in _as_list(st["Action"])}
    assert actions == {
        "s3:GetObject",
        "s3:ListBucket",
        "s3:PutObject",
        "s3:DeleteObject",
        "s3:AbortMultipartUpload",
        "kms:Decrypt",
        "kms:GenerateDataKey",
        "sqs:SendMessage",
    }
    (dlq_stmt,) = [st for st in _statements(fn) if "sqs:SendMessage" in _as_list(st["Action"])]
    assert dlq_stmt["Resource"] == "<GetAtt:DeadLetterQueue.Arn>"
    (kms_stmt,) = [st for st in _statements(fn) if "kms:Decrypt" in _as_list(st["Action"])]
    assert _as_list(kms_stmt["Resource"]) == [kms]
    plain = _ev(template).resource("StorageEventFunction")
    assert plain is not None
    assert not any(a.startswith("kms:") for st in _statements(plain) for a in _as_list(st["Action"]))


def _translated(template: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The CloudFormation the SAM translator makes of ``template`` (what sam validate and deploy use)."""
    from samtranslator.translator.transform import transform

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    doc = copy.deepcopy(template)
    doc["Globals"]["Function"]["CodeUri"] = "s3://circle-artifacts/bundle.zip"  # sam package's job

    class NoManagedPolicies:
        def load(self) -> dict[str, str]:
            return {}

    out: dict[str, Any] = transform(doc, dict(PARAMS), NoManagedPolicies())
    return out


def test_sam_translator_transforms_it_without_an_xray_policy(
    template: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = _translated(template, monkeypatch)
    roles = {k: v["Properties"] for k, v in out["Resources"].items() if v["Type"] == "AWS::IAM::Role"}
    assert set(roles) == {
        "StorageEventFunctionRole",
        "RotationFunctionRole",
        "HttpApiFunctionRole",
        "ScheduledFunctionRole",
        "SchedulerRole",
    }
    for props in roles.values():
        assert not any("XRay" in str(a) or "Xray" in str(a) for a in props.get("ManagedPolicyArns", []))
    mapping = out["Resources"]["StorageEventFunctionQueue"]["Properties"]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    # The same check sees the policy as soon as tracing is switched on.
    traced = copy.deepcopy(template)
    traced["Globals"]["Function"]["Tracing"] = "Active"
    managed = _translated(traced, monkeypatch)["Resources"]["StorageEventFunctionRole"]["Properties"]
    assert any("Xray" in str(a) for a in managed["ManagedPolicyArns"])


def _s3_grants(fn: dict[str, Any]) -> tuple[set[str], set[str]]:
    """(resources written or deleted, resources only read or listed) by one function's policies."""
    writes: set[str] = set()
    reads: set[str] = set()
    statements = [s for doc in fn["Properties"]["Policies"] for s in doc.get("Statement", [])]  # SAM templates: none
    for stmt in statements:
        s3_actions = {a for a in _as_list(stmt["Action"]) if a.startswith("s3:")}
        if s3_actions & {"s3:PutObject", "s3:DeleteObject"}:
            writes.update(_as_list(stmt["Resource"]))
        elif s3_actions:
            reads.update(_as_list(stmt["Resource"]))
    return writes, reads


def test_the_http_api_reaches_the_source_and_every_s3_target(template: dict[str, Any]) -> None:
    """The API serves every configured store ([[http.grants]] decide who reaches what): without a grant on
    the targets every API call on a replica would be AccessDenied."""
    fn = _ev(template, TargetBucketNames="replica-a,replica-b").resource("HttpApiFunction")
    assert fn is not None
    writes, reads = _s3_grants(fn)
    targets = {"arn:aws:s3:::replica-a", "arn:aws:s3:::replica-b"}
    assert writes == {"arn:aws:s3:::circle-src/*", *(f"{t}/*" for t in targets)}
    assert {"arn:aws:s3:::circle-src", *targets} <= reads


def test_scheduled_jobs_write_only_under_the_reserved_prefix_of_the_source(template: dict[str, Any]) -> None:
    """Checkpoints and probe canaries: .circle/ at the bucket root, or under the store URL's own path."""
    fn = _ev(template, TargetBucketNames="").resource("ScheduledFunction")
    assert fn is not None
    writes, _ = _s3_grants(fn)
    assert writes == {"arn:aws:s3:::circle-src/.circle/*", "arn:aws:s3:::circle-src/*/.circle/*"}
