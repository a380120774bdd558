"""scripts/deploy.py: the printed commands carry the flags the design depends on, form a valid shell
script, grant what the configuration uses (and nothing else), quote SAM parameter overrides the way SAM
parses them, rerun idempotently, and --execute refuses to start without the CLI, the settings or the
bundle. No cloud is reachable here: the tests check the commands, and run them against stand-in CLIs."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.config import load_config
from core.secrets.rotation.config import parse_rotations
from scripts import deploy
from scripts.deploy_config import Facts, facts
from tests.deploy.cfn_eval import Evaluator, load

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "circle.toml"
GCP_ENV = {
    "CIRCLE_GCP_PROJECT": "proj-1",
    "CIRCLE_GCP_REGION": "europe-west1",
    "CIRCLE_GCP_BUCKET": "src-bucket",
    "CIRCLE_GCP_SECRET": "replication-key",
}
AZ_ENV = {
    "CIRCLE_AZ_LOCATION": "westeurope",
    "CIRCLE_AZ_FUNCTION_APP": "circle-app",
    "CIRCLE_AZ_HOST_STORAGE": "circlehost",
    "CIRCLE_AZ_SOURCE_ACCOUNT": "circlesrc",
    "CIRCLE_AZ_KEY_VAULT": "circle-kv",
}
AWS_ENV = {
    "CIRCLE_AWS_SOURCE_BUCKET": "src",
    "CIRCLE_AWS_ROTATED_USER": "replicator",
    "CIRCLE_AWS_TARGET_BUCKETS": "t1,t2",
    "CIRCLE_AWS_ROTATION_SCHEDULE": "rate(7 days)",
}


def _plan(cloud: str, env: dict[str, str], config: Facts | None = None) -> deploy.Plan:
    if cloud == "gcp":
        return deploy.plan_gcp(deploy.Settings(env), config, now=datetime(2030, 1, 1, tzinfo=UTC))
    return deploy.PLANNERS[cloud](deploy.Settings(env), config)


def _steps(plan: deploy.Plan, *prefix: str) -> list[tuple[str, ...]]:
    return [s.argv for s in plan.steps if s.argv[: len(prefix)] == prefix]


@pytest.mark.parametrize("with_config", [False, True])
@pytest.mark.parametrize(
    ("cloud", "env"), [("aws", AWS_ENV), ("aws", {}), ("azure", AZ_ENV), ("azure", {}), ("gcp", GCP_ENV), ("gcp", {})]
)
def test_printed_plan_is_a_valid_shell_script_using_only_captured_variables(
    cloud: str, env: dict[str, str], with_config: bool
) -> None:
    plan = _plan(cloud, env, facts(EXAMPLE, "prod") if with_config else None)
    captured: set[str] = set()
    for step in plan.steps:
        used = {v for a in step.argv for v in re.findall(r"\$\{([A-Z_]+)\}", a)}
        assert used <= captured, f"{step.purpose} uses {used - captured} before it is captured"
        if step.capture:
            captured.add(step.capture)
    proc = subprocess.run(["bash", "-n"], input=plan.render(), text=True, capture_output=True, check=False)
    assert proc.returncode == 0, proc.stderr
    # Without settings, AWS falls back to `sam deploy --guided` (SAM asks); the others show placeholders.
    assert (plan.placeholders() == []) == (bool(env) or cloud == "aws")
    # Every "create" a rerun meets again is tolerated or is a create-or-update.
    for step in plan.steps:
        if "create" in step.argv and not step.ok_if_exists:
            assert step.argv[:3] in IDEMPOTENT_CREATES, f"a rerun would fail at: {step.purpose}"


# Commands whose "create" is a create-or-update (PUT) in the CLI: a rerun succeeds without help.
IDEMPOTENT_CREATES = {
    ("az", "group", "create"),
    ("az", "storage", "account"),
    ("az", "eventgrid", "event-subscription"),
    ("gcloud", "beta", "services"),
    # monitoring (monitor helper): action groups and metric alerts are PUTs (create or update)
    ("az", "monitor", "action-group"),
    ("az", "monitor", "metrics"),
}


def test_gcp_deploys_gen2_eventarc_functions_with_retry() -> None:
    plan = _plan("gcp", GCP_ENV)
    deploys = {argv[3]: argv for argv in _steps(plan, "gcloud", "functions", "deploy")}
    http_api = deploys.pop("circle-http-api")  # issue 10: HTTP-triggered, IAM invoker only, no retry
    assert {"--trigger-http", "--entry-point=http", "--no-allow-unauthenticated"} <= set(http_api)
    assert "--retry" not in http_api
    assert set(deploys) == {
        "circle-storage-finalized",
        "circle-storage-deleted",
        "circle-secret-rotation",
        "circle-scheduled",  # jobs: scheduled probes and reconciliation
    }
    for kind in ("finalized", "deleted"):
        argv = deploys[f"circle-storage-{kind}"]
        assert f"--trigger-event-filters=type=google.cloud.storage.object.v1.{kind}" in argv
        assert "--trigger-event-filters=bucket=src-bucket" in argv
        assert f"--entry-point={deploy.GCP_STORAGE_TARGET}" in argv
    rotation = deploys["circle-secret-rotation"]
    assert "--trigger-topic=circle-secret-rotation" in rotation
    assert f"--entry-point={deploy.GCP_ROTATION_TARGET}" in rotation
    for argv in deploys.values():
        assert {"--gen2", "--retry", "--runtime=python313", "--source=dist/gcp", "--region=europe-west1"} <= set(argv)
        assert "--timeout=540s" in argv  # the limit for event-driven functions
        (env_vars,) = [a for a in argv if a.startswith("--set-env-vars=")]
        values = env_vars.removeprefix("--set-env-vars=").split(",")
        jobs_only = ("CIRCLE_JOBS_TOPIC=", "MALLOC_")  # jobs: the scheduled function's own
        assert [v for v in values if not v.startswith(jobs_only)] == [
            "CIRCLE_CONFIG=/workspace/circle.toml",
            "CIRCLE_SECRETS_URL=gcp-sm://proj-1",
            f"CIRCLE_TIME_BUDGET_SECONDS={deploy.GCP_TIME_BUDGET_SECONDS}",
        ]  # no CIRCLE_ENV unless set: the base file
        assert deploy.GCP_TIME_BUDGET_SECONDS == deploy.GCP_TIMEOUT_SECONDS == 540  # the adapter keeps a margin
        malloc = [v for v in values if v.startswith("MALLOC_")]
        assert malloc == (list(deploy.JOBS_MALLOC) if argv is deploys["circle-scheduled"] else [])
    (update,) = _steps(plan, "gcloud", "secrets", "update")
    assert "--add-topics=projects/proj-1/topics/circle-secret-rotation" in update
    assert "--next-rotation-time=2030-01-02T00:00:00Z" in update
    assert "--rotation-period=2592000s" in update
    publisher = [a for a in _steps(plan, "gcloud", "pubsub", "topics", "add-iam-policy-binding")]
    assert (
        "--member=serviceAccount:service-${PROJECT_NUMBER}@gcp-sa-secretmanager.iam.gserviceaccount.com" in publisher[0]
    )


def _values(argv: tuple[str, ...] | list[str], flag: str) -> list[str]:
    start = argv.index(flag) + 1
    end = next((i for i in range(start, len(argv)) if argv[i].startswith("--")), len(argv))
    return list(argv[start:end])


def test_azure_blob_events_go_through_a_storage_queue_to_the_queue_function() -> None:
    plan = _plan("azure", {**AZ_ENV, "CIRCLE_AZ_SOURCE_CONTAINER": "incoming"})
    subs = {
        argv[argv.index("--name") + 1]: list(argv)
        for argv in _steps(plan, "az", "eventgrid", "event-subscription", "create")
    }
    blob, vault = subs["circle-blob-events"], subs["circle-secret-near-expiry"]
    assert _values(blob, "--endpoint-type") == ["storagequeue"]
    assert _values(blob, "--endpoint") == [f"${{HOST_ID}}/queueServices/default/queues/{deploy.AZURE_EVENTS_QUEUE}"]
    assert deploy.AZURE_EVENTS_QUEUE == "circle-storage-events"
    assert _values(blob, "--included-event-types") == ["Microsoft.Storage.BlobCreated", "Microsoft.Storage.BlobDeleted"]
    assert _values(blob, "--advanced-filter")[:2] == ["data.api", "StringIn"]
    assert {"PutBlob", "PutBlockList", "CopyBlob", "DeleteBlob"} <= set(_values(blob, "--advanced-filter"))
    assert _values(blob, "--subject-begins-with") == ["/blobServices/default/containers/incoming/"]
    assert _values(vault, "--endpoint") == [f"${{APP_ID}}/functions/{deploy.AZURE_KEYVAULT_FUNCTION}"]
    assert _values(vault, "--included-event-types") == ["Microsoft.KeyVault.SecretNearExpiry"]
    for argv in (blob, vault):
        assert _values(argv, "--event-delivery-schema") == ["eventgridschema"]
        assert _values(argv, "--max-delivery-attempts") == ["30"]
        assert _values(argv, "--event-ttl") == ["1440"]
        assert _values(argv, "--deadletter-endpoint") == [
            "${HOST_ID}/blobServices/default/containers/eventgrid-deadletter"
        ]
    queue, jobs_queue = _steps(plan, "az", "storage", "queue-rm", "create")  # jobs: the second one
    assert _values(jobs_queue, "--name") == ["circle-jobs"]
    assert _values(queue, "--name") == [deploy.AZURE_EVENTS_QUEUE]
    assert _values(queue, "--storage-account") == ["circlehost"]
    (settings,) = _steps(plan, "az", "functionapp", "config", "appsettings", "set")
    assert _values(settings, "--settings") == [
        "CIRCLE_CONFIG=/home/site/wwwroot/circle.toml",
        f"CIRCLE_EVENTS_QUEUE={deploy.AZURE_EVENTS_QUEUE}",
        "CIRCLE_SECRETS_URL=keyvault://circle-kv",
        f"CIRCLE_TIME_BUDGET_SECONDS={deploy.AZURE_TIME_BUDGET_SECONDS}",
        # jobs: the timers' 6-field NCRONTAB schedules, the jobs queue, malloc arenas
        "CIRCLE_RECONCILE_SCHEDULE=0 0 * * * *",
        "CIRCLE_PROBE_SCHEDULE=0 */5 * * * *",
        "CIRCLE_JOBS_QUEUE=circle-jobs",
        "MALLOC_ARENA_MAX=2",
        "MALLOC_MMAP_THRESHOLD_=1048576",
        "MALLOC_TRIM_THRESHOLD_=1048576",
    ]
    hours, minutes, seconds = json.loads((ROOT / "host.json").read_text())["functionTimeout"].split(":")
    assert int(hours) * 3600 + int(minutes) * 60 + int(seconds) == deploy.AZURE_TIME_BUDGET_SECONDS
    (publish,) = [s for s in plan.steps if s.argv[:3] == ("func", "azure", "functionapp")]
    assert publish.cwd == "dist/azure"
    zip_plan = deploy.plan_azure(deploy.Settings(AZ_ENV), publish="zip")
    assert zip_plan.tools == ("az",)
    assert _steps(zip_plan, "az", "functionapp", "deployment", "source", "config-zip")


# SAM's documented --parameter-overrides syntax: Key=Value items separated by spaces; a value with spaces
# is wrapped in double (or single) quotes, inside which \" stands for a quote.
_SAM_ITEM = re.compile(r"""(?:^|\s)([A-Za-z0-9]+)=("(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|(?:\\.|[^\s"'\\])+)""")


def sam_parse(items: list[str] | tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        for key, value in _SAM_ITEM.findall(item):
            if value[:1] in {'"', "'"} and value[-1:] == value[:1]:
                value = value[1:-1]
            out[key] = value.replace('\\"', '"').replace("\\'", "'").replace("\\ ", " ")
    return out


def test_the_sam_rules_split_an_unquoted_schedule() -> None:
    # What broke before: SAM reads "cron(0" and drops the rest.
    assert sam_parse(["RotationScheduleExpression=cron(0 4 ? * SUN *)"]) == {"RotationScheduleExpression": "cron(0"}


@pytest.mark.parametrize(
    "value",
    ["cron(0 4 ? * SUN *)", "rate(30 days)", "rate(7 days)", "t1,t2", "plain", 'say "hi" there', "it's", "a=b c"],
)
def test_sam_override_survives_sams_parser(value: str) -> None:
    item = deploy.sam_override("Param", value)
    assert sam_parse([item]) == {"Param": value}
    assert sam_parse(["A=1", item, "B=2"]) == {"A": "1", "Param": value, "B": "2"}


def test_sam_override_refuses_a_backslash() -> None:
    with pytest.raises(deploy.DeployError, match="backslash"):
        deploy.sam_override("Param", "a\\b")


def _overrides(plan: deploy.Plan) -> dict[str, str]:
    (sam_deploy,) = _steps(plan, "sam", "deploy")
    assert "--guided" not in sam_deploy
    start = sam_deploy.index("--parameter-overrides") + 1
    end = next((i for i in range(start, len(sam_deploy)) if sam_deploy[i].startswith("--")), len(sam_deploy))
    return sam_parse(sam_deploy[start:end])


def test_aws_overrides_name_template_parameters() -> None:
    template = load(ROOT / "template.yaml")
    env = {**AWS_ENV, "CIRCLE_AWS_ROTATION_SCHEDULE": "cron(0 4 ? * SUN *)", "CIRCLE_AWS_ALARM_EMAIL": "ops@x.org"}
    overrides = _overrides(_plan("aws", env))
    assert set(overrides) <= set(template["Parameters"])
    assert overrides["TargetBucketNames"] == "t1,t2"
    assert overrides["RotationScheduleExpression"] == "cron(0 4 ? * SUN *)"
    assert overrides["AlarmEmail"] == "ops@x.org"
    assert overrides["CreateSourceBucket"] == "true"
    assert "CircleEnv" not in overrides  # unset: the template's default, the base file
    (guided,) = _steps(_plan("aws", {}), "sam", "deploy")
    assert "--guided" in guided


def test_aws_grants_follow_the_configuration() -> None:
    config = facts(EXAMPLE, "prod")
    plan = _plan("aws", {"CIRCLE_AWS_ROTATED_USER": "replicator", "CIRCLE_ENV": "prod"}, config)
    overrides = _overrides(plan)
    assert overrides["SourceBucketName"] == "circle-example-incoming"  # the one S3 source in the file
    assert overrides["CircleEnv"] == "prod"
    # incoming is written too: replicas from Azure and GCS, and the dead letters.
    assert overrides["TargetBucketNames"] == "circle-example-incoming"
    assert overrides["ConfigSecretArns"] == (
        "arn:aws:secretsmanager:${REGION}:${ACCOUNT_ID}:secret:circle-azure-replica-connection-??????"
    )
    captured = {s.capture for s in plan.steps}
    assert {"ACCOUNT_ID", "REGION"} <= captured
    base = _overrides(_plan("aws", {"CIRCLE_AWS_ROTATED_USER": "r"}, facts(EXAMPLE)))
    assert "ConfigSecretArns" not in base  # the base file references no secret


def test_http_api_keys_are_secrets_the_functions_read(tmp_path: Path) -> None:
    config = tmp_path / "circle.toml"
    config.write_text(
        '[secrets]\nurl = "aws-sm://"\n[stores.src]\nurl = "memory://in"\n[stores.dst]\nurl = "memory://out"\n'
        '[[replication]]\nsource = "src"\ntargets = ["dst"]\n[http]\napi_keys = ["circle-api-keys"]\n'
    )
    load_config(config)
    assert facts(config).secret_names == ("circle-api-keys",)  # granted like a secret:// reference
    gcp = _plan("gcp", GCP_ENV, facts(config))
    readers = [a for a in _steps(gcp, "gcloud", "secrets", "add-iam-policy-binding") if a[3] == "circle-api-keys"]
    roles = [[w for w in a if w.startswith("--role=")] for a in readers]
    assert roles == [["--role=roles/secretmanager.secretAccessor"]]


def test_aws_grants_the_kms_keys_the_stores_encrypt_with(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "circle.toml"
    config.write_text(
        '[stores.src]\nurl = "s3://in"\n'
        f'[stores.dst]\nurl = "s3://out"\nsse_kms_key_id = "{KMS_ARN}"\n'
        '[stores.aliased]\nurl = "s3://out2"\nsse_kms_key_id = "alias/replicas"\n'
        '[[replication]]\nsource = "src"\ntargets = ["dst", "aliased"]\n'
    )
    load_config(config)  # a configuration make bundle accepts
    known = facts(config)
    assert known.kms_keys == (KMS_ARN,) and known.kms_unresolved == ("aliased",)
    env = {"CIRCLE_AWS_ROTATED_USER": "r", "CIRCLE_AWS_KMS_KEY_ARNS": "arn:aws:kms:eu-west-1:123456789012:key/extra"}
    overrides = _overrides(_plan("aws", env, known))
    assert overrides["KmsKeyArns"] == f"arn:aws:kms:eu-west-1:123456789012:key/extra,{KMS_ARN}"
    # Every function that reads or writes an S3 store is granted the keys.
    ev = Evaluator(load(ROOT / "template.yaml"), {"SourceBucketName": "in", "RotatedUserName": "r",
                                                  "KmsKeyArns": KMS_ARN}, partition="aws")  # fmt: skip
    for name in ("StorageEventFunction", "ScheduledFunction", "HttpApiFunction"):
        fn = ev.resource(name)
        assert fn is not None
        grants = [st for doc in fn["Properties"]["Policies"] if "Statement" in doc for st in doc["Statement"]]
        (kms,) = [st for st in grants if "kms:Decrypt" in st["Action"]]
        assert (sorted(kms["Action"]), kms["Resource"]) == (["kms:Decrypt", "kms:GenerateDataKey"], [KMS_ARN]), name
    # An alias cannot be a policy resource: the deploy says so instead of granting nothing silently.
    assert deploy.main(["aws", "--config", str(config)], env={}) == 0
    assert "store(s) aliased: sse_kms_key_id is not a key ARN" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("last_rotated", "rotates"),
    [("None", True), ("2030-01-01T04:00:00+00:00", False)],
    ids=["never-rotated", "already-rotated"],
)
def test_aws_rotates_only_a_secret_never_rotated(tmp_path: Path, last_rotated: str, rotates: bool) -> None:
    """A rerun of the deploy must not rotate again: each rotation replaces the key pair the replicas use."""
    calls = tmp_path / "calls.txt"
    aws = tmp_path / "aws"
    aws.write_text(
        f'#!/bin/sh\necho "$*" >> {calls}\n'
        f'case "$2" in describe-secret) echo "{last_rotated}" ;; rotate-secret) echo rotating ;; esac\n'
    )
    aws.chmod(0o755)
    plan = _plan("aws", {**AWS_ENV, "AWS_REGION": "eu-west-1"})
    (step,) = [st for st in plan.steps if st.purpose.startswith("Rotate once")]
    assert not [st for st in plan.steps if st.argv[:3] == ("aws", "secretsmanager", "rotate-secret")]
    argv = [a.replace("${SECRET_ARN}", "arn:aws:secretsmanager:eu-west-1:1:secret:x-AbCdEf") for a in step.argv]
    proc = subprocess.run(argv, env={**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"},
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = calls.read_text().splitlines()
    describe = "secretsmanager describe-secret --query LastRotatedDate --output text --region eu-west-1"
    assert lines[0] == describe + " --secret-id arn:aws:secretsmanager:eu-west-1:1:secret:x-AbCdEf"
    expected = ["describe-secret", "rotate-secret"] if rotates else ["describe-secret"]
    assert [line.split()[1] for line in lines] == expected
    # A secret that cannot be described is not taken for a new one: the step fails.
    aws.write_text("#!/bin/sh\necho 'ResourceNotFoundException' >&2\nexit 254\n")
    assert subprocess.run(argv, env={**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"},
                          capture_output=True, check=False).returncode == 254  # fmt: skip


def test_aws_attaches_to_an_existing_bucket() -> None:
    env = {**AWS_ENV, "CIRCLE_AWS_EXISTING_BUCKET": "true", "CIRCLE_AWS_ENABLE_EVENTBRIDGE": "true"}
    plan = _plan("aws", env)
    assert _overrides(plan)["CreateSourceBucket"] == "false"
    (enable,) = _steps(plan, "aws", "s3api", "put-bucket-notification-configuration")
    assert _values(enable, "--bucket") == ["src"]
    assert json.loads(_values(enable, "--notification-configuration")[0]) == {"EventBridgeConfiguration": {}}
    assert not _steps(_plan("aws", {**AWS_ENV, "CIRCLE_AWS_EXISTING_BUCKET": "true"}), "aws", "s3api")


def test_azure_grants_follow_the_configuration(tmp_path: Path) -> None:
    config = tmp_path / "circle.toml"
    config.write_text(
        '[stores.src]\nurl = "az://incoming"\n'
        '[stores.mi]\nurl = "az://replica/x"\naccount_url = "https://replicaacct.blob.core.windows.net"\n'
        '[stores.keyed]\nurl = "az://other"\nconnection_string = "secret://vault/other-conn"\n'
        '[[replication]]\nsource = "src"\ntargets = ["mi", "keyed"]\n'
    )
    plan = _plan("azure", AZ_ENV, facts(config))
    roles = [(_values(a, "--role"), _values(a, "--scope")) for a in _steps(plan, "az", "role", "assignment")]
    assert (["Storage Blob Data Reader"], ["${SOURCE_ID}"]) in roles
    assert (
        ["Storage Blob Data Contributor"],
        ["${TARGET_REPLICAACCT}/blobServices/default/containers/replica"],
    ) in roles
    assert (["Key Vault Secrets User"], ["${VAULT_ID}/secrets/other-conn"]) in roles
    assert not any(r == ["Key Vault Secrets Officer"] for r, _ in roles)  # no rotated secret named
    # src (az://incoming, no account_url) and keyed carry their own credentials: no store role for them.
    assert len(roles) == 3  # the keyed store needs no role: its connection string carries the key
    rotated = _plan("azure", {**AZ_ENV, "CIRCLE_AZ_ROTATED_SECRETS": "a,b"}, facts(config))
    officers = [
        _values(a, "--scope") for a in _steps(rotated, "az", "role", "assignment") if "Key Vault Secrets Officer" in a
    ]
    assert officers == [["${VAULT_ID}/secrets/a"], ["${VAULT_ID}/secrets/b"]]
    existing = _steps(plan, "az", "storage", "account", "create")
    assert [_values(a, "--name") for a in existing] == [["circlehost"]]  # the watched account exists
    created = _plan("azure", {**AZ_ENV, "CIRCLE_AZ_CREATE_SOURCE_ACCOUNT": "true"})
    names = [_values(a, "--name") for a in _steps(created, "az", "storage", "account", "create")]
    assert names == [["circlehost"], ["circlesrc"]]


def test_gcp_grants_follow_the_configuration() -> None:
    plan = _plan("gcp", {k: v for k, v in GCP_ENV.items() if k != "CIRCLE_GCP_BUCKET"}, facts(EXAMPLE, "prod"))
    bindings = [
        (argv[1], argv[argv.index("add-iam-policy-binding") + 1], _role_of(argv))
        for argv in plan_steps_with(plan, "add-iam-policy-binding")
    ]
    # The watched bucket is a rule's target too: objectUser on it covers reading it, and no conditional
    # reserved-prefix binding or separate objectViewer is needed.
    storage = [(t, r) for kind, t, r in bindings if kind == "storage"]
    assert storage == [("gs://circle-example-replica", "roles/storage.objectUser")]
    assert ("secrets", "circle-azure-replica-connection", "roles/secretmanager.secretAccessor") in bindings
    # The rotation identity: secretmanager.admin on the rotated secret only (UpdateSecret for aliases
    # and annotations), nothing project-wide on Secret Manager.
    secret_roles = [(target, role) for kind, target, role in bindings if "secretmanager" in role]
    assert ("replication-key", "roles/secretmanager.admin") in secret_roles
    assert all(target != "proj-1" for target, _ in secret_roles)
    assert "roles/secretmanager.secretVersionManager" not in {r for _, r in secret_roles}
    created = _plan("gcp", {**GCP_ENV, "CIRCLE_GCP_CREATE_BUCKET": "true"})
    (create,) = _steps(created, "gcloud", "storage", "buckets", "create")
    assert create[4] == "gs://src-bucket" and "--uniform-bucket-level-access" in create
    assert not _steps(_plan("gcp", GCP_ENV), "gcloud", "storage", "buckets", "create")


def test_gcp_rotation_grants_every_rotated_secret_the_configuration_names(tmp_path: Path) -> None:
    config = tmp_path / "circle.toml"
    config.write_text(
        '[stores.src]\nurl = "memory://in"\n[stores.dst]\nurl = "memory://out"\n'
        '[[replication]]\nsource = "src"\ntargets = ["dst"]\n'
        '[[rotation]]\nsecrets = "gcp-sm://proj-1"\nsecret = "hmac-a"\nrotator = "hmac_api_key"\n'
        '[[rotation]]\nsecrets = "gcp-sm://other-proj"\nsecret = "hmac-b"\nrotator = "hmac_api_key"\n'
        '[[rotation]]\nsecrets = "vault"\nsecret = "via-vault"\nrotator = "hmac_api_key"\n'
        '[[rotation]]\nsecrets = "aws-sm://eu-west-1"\nsecret = "on-aws"\nrotator = "hmac_api_key"\n'
    )
    load_config(config)
    parse_rotations(tomllib.loads(config.read_text()))  # what the rotation path accepts
    env = {**GCP_ENV, "CIRCLE_GCP_SECRET": "from-env"}  # the variable adds to the configuration's
    plan = _plan("gcp", env, facts(config))

    def per_secret(*argv: str) -> list[tuple[str, str]]:
        return [(a[3], a[4]) for a in _steps(plan, "gcloud", "secrets", *argv)]

    bindings = _steps(plan, "gcloud", "secrets", "add-iam-policy-binding")
    admins = [(a[3], a[4]) for a in bindings if _role_of(a) == "roles/secretmanager.admin"]
    expected = [
        ("from-env", "--project=proj-1"),
        ("hmac-a", "--project=proj-1"),
        ("hmac-b", "--project=other-proj"),
        ("via-vault", "--project=proj-1"),  # secret://vault is gcp-sm://<project> on Google Cloud
    ]
    assert admins == expected  # the AWS secret is not Google's to grant
    assert per_secret("update") == expected  # each gets the rotation schedule and topic
    # Without the variable the configuration's entries suffice; with neither, the placeholder stays.
    unset = {k: v for k, v in GCP_ENV.items() if k != "CIRCLE_GCP_SECRET"}
    assert "CIRCLE_GCP_SECRET" not in _plan("gcp", unset, facts(config)).placeholders()
    assert "CIRCLE_GCP_SECRET" in _plan("gcp", unset).placeholders()


def plan_steps_with(plan: deploy.Plan, verb: str) -> list[tuple[str, ...]]:
    return [s.argv for s in plan.steps if s.argv[0] == "gcloud" and verb in s.argv]


def _role_of(argv: tuple[str, ...]) -> str:
    return next(a.split("=", 1)[1] for a in argv if a.startswith("--role="))


def test_cli_names_a_missing_config_in_one_line(tmp_path: Path) -> None:
    proc = _cli(["aws", "--config", str(tmp_path / "nope.toml")], path=os.environ["PATH"])
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "nope.toml" in proc.stderr and "Traceback" not in proc.stderr


FAKE_AZ = """#!/usr/bin/env python3
import os, sys
args = sys.argv[1:]
log = os.environ["FAKE_LOG"]
seen = open(log).read().splitlines() if os.path.exists(log) else []
line = " ".join(args)
open(log, "a").write(line + "\\n")
if args[:2] == ["functionapp", "show"] and "functionAppConfig" in line:
    print(os.environ.get("FAKE_RUNTIME", '["python", "3.13"]'))  # the existing app's runtime, as JSON
elif "--query" in args:
    print("/subscriptions/0/providers/x/" + (args[args.index("--name") + 1] if "--name" in args else "id"))
elif line in seen and (args[:3] in (["role", "assignment", "create"], ["functionapp", "create", "--name"])):
    sys.exit("ERROR: (Conflict) The role assignment already exists." if args[0] == "role" else
             "ERROR: Website with given name circle-app already exists.")
"""


def test_azure_rerun_is_idempotent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("az", "func"):
        (bin_dir / tool).write_text(FAKE_AZ)
        (bin_dir / tool).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_LOG", str(tmp_path / "calls.log"))
    (tmp_path / "dist" / "azure").mkdir(parents=True)
    plan = _plan("azure", AZ_ENV, facts(EXAMPLE, "prod"))
    deploy.execute(plan, dist=tmp_path / "dist")
    first = (tmp_path / "calls.log").read_text().splitlines()
    deploy.execute(plan, dist=tmp_path / "dist")  # the rerun meets "already exists" and carries on
    calls = (tmp_path / "calls.log").read_text().splitlines()
    assert any(c.startswith("role assignment create") for c in first)
    assert any("Key Vault Secrets User" in c and "circle-azure-replica-connection" in c for c in first)
    # The rerun made the same calls, plus a check, right after "already exists", that the app it found is
    # the one it would have made (the first run did not need one).
    rerun = calls[len(first) :]
    checks = [i for i, c in enumerate(rerun) if c.startswith("functionapp show") and "functionAppConfig" in c]
    assert len(checks) == 1 and rerun[checks[0] - 1].startswith("functionapp create")
    assert "--resource-group circle-core" in rerun[checks[0]]
    assert rerun[: checks[0]] + rerun[checks[0] + 1 :] == first


@pytest.mark.parametrize("found", ['["python", "3.11"]', "[null, null]"], ids=["other-runtime", "not-flex"])
def test_azure_rerun_refuses_an_app_that_is_not_the_one_it_makes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, found: str
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("az", "func"):
        (bin_dir / tool).write_text(FAKE_AZ)
        (bin_dir / tool).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_LOG", str(tmp_path / "calls.log"))
    monkeypatch.setenv("FAKE_RUNTIME", found)
    (tmp_path / "dist" / "azure").mkdir(parents=True)
    plan = _plan("azure", AZ_ENV)
    (create,) = [st for st in plan.steps if st.argv[:3] == ("az", "functionapp", "create")]
    assert "already exists and `az functionapp show" in create.render()
    deploy.execute(plan, dist=tmp_path / "dist")
    refusal = r"it already exists, but .* gives \[.*\], not \[\"python\",\"3.13\"\]: delete it"
    with pytest.raises(deploy.DeployError, match=refusal):
        deploy.execute(plan, dist=tmp_path / "dist")
    # Nothing after the function app ran on the rerun: no settings, roles or publish into a stranger's app.
    calls = (tmp_path / "calls.log").read_text().splitlines()
    assert calls[-1].startswith("functionapp show")


def _cli(args: list[str], path: str, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CIRCLE_")}
    env.update(extra_env or {}, PATH=path)
    return subprocess.run(
        [sys.executable, "-m", "scripts.deploy", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_execute_refuses_without_the_cli(tmp_path: Path) -> None:
    for cloud, tool in (("aws", "sam"), ("gcp", "gcloud"), ("azure", "az")):
        proc = _cli([cloud, "--execute"], path=str(tmp_path))
        assert proc.returncode == 2
        assert f"{tool}" in proc.stderr and "not found on PATH" in proc.stderr


def test_execute_refuses_with_unset_settings(tmp_path: Path) -> None:
    # Only `which` must find gcloud: the refusal comes before any command runs.
    (tmp_path / "gcloud").write_text("#!/bin/sh\necho must-not-run >&2\nexit 99\n")
    (tmp_path / "gcloud").chmod(0o755)
    proc = _cli(["gcp", "--execute"], path=str(tmp_path), extra_env={"CIRCLE_GCP_PROJECT": "p"})
    assert proc.returncode == 2
    assert "set CIRCLE_GCP_BUCKET, CIRCLE_GCP_REGION, CIRCLE_GCP_SECRET" in proc.stderr
    assert "must-not-run" not in proc.stderr


def test_execute_runs_steps_in_order_substituting_captures(tmp_path: Path) -> None:
    py = sys.executable
    out = tmp_path / "log.txt"
    plan = deploy.Plan("aws", (py,), "none", "dist/aws")
    plan.add("capture an id", py, "-c", "print('  /sites/app  ')", capture="APP_ID")
    plan.add("use it", py, "-c", f"import sys; open({str(out)!r}, 'w').write(sys.argv[1])", "${APP_ID}/functions/f")
    plan.add("tolerated", py, "-c", "import sys; sys.exit('Resource already exists')", ok_if_exists=True)
    plan.add("fails", py, "-c", "import sys; sys.exit('quota exceeded')")
    plan.add("never runs", py, "-c", f"open({str(tmp_path / 'never')!r}, 'w')")
    with pytest.raises(deploy.DeployError, match="dist/aws does not exist: run `make bundle` first"):
        deploy.execute(plan, dist=tmp_path / "nowhere")
    (tmp_path / "dist" / "aws").mkdir(parents=True)
    with pytest.raises(deploy.DeployError, match=r"step failed \(1\): fails$"):
        deploy.execute(plan, dist=tmp_path / "dist")
    assert out.read_text() == "/sites/app/functions/f"
    assert not (tmp_path / "never").exists()


KMS_ARN = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def test_config_facts_follow_the_overlay_and_name_each_secret_once(tmp_path: Path) -> None:
    config = tmp_path / "circle.toml"
    config.write_text(
        f'[secrets]\nurl = "aws-sm://"\n[stores.src]\nurl = "s3://in/data"\nsse_kms_key_id = "{KMS_ARN}"\n'
        '[stores.dst]\nurl = "gs://out"\n'
        '[[replication]]\nsource = "src"\ntargets = ["dst"]\n'
        '[env.prod.stores.dst]\nurl = "az://out"\nconnection_string = "secret://vault/conn%2Fprod#value"\n'
        '[env.prod.stores.src]\naccess_key_id = "secret://vault/s3-key#id"\nsecret_access_key = "secret://vault/s3-key#secret"\n'
        '[env.prod.dead_letter]\nstore = "src"\n'
    )
    for env in (None, "prod"):  # what make bundle accepts (facts() reads it as data, unchecked)
        load_config(config, env=env)
    base = facts(config)
    assert (base.read_buckets("s3"), base.write_buckets("gs"), base.write_buckets("s3")) == (["in"], ["out"], [])
    assert base.secret_names == () and base.kms_keys == (KMS_ARN,) and base.kms_unresolved == ()
    assert base.secrets_url == "aws-sm://"
    assert facts(config, "staging") == base  # no such overlay: the base file (contract C3)
    prod = facts(config, "prod")
    assert prod.write_buckets("gs") == [] and [s.bucket for s in prod.written_stores("az")] == ["out"]
    assert prod.write_buckets("s3") == ["in"]  # the dead-letter store is written too
    assert sorted(prod.secret_names) == ["conn/prod", "s3-key"]  # unquoted, without the field, once each
    assert len(prod.secret_names) == 2


AZ_CONTRIBUTOR = "Storage Blob Data Contributor"
BLOBS = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs"


def _reserved_abac(path: str) -> str:
    """The condition written out by hand (docs/deploy.md quotes it): changes only under ``path``."""
    return (
        f"((!(ActionMatches{{'{BLOBS}/write'}}) AND !(ActionMatches{{'{BLOBS}/add/action'}}) AND "
        f"!(ActionMatches{{'{BLOBS}/delete'}}) AND !(ActionMatches{{'{BLOBS}/move/action'}})) OR "
        f"(@Resource[{BLOBS}:path] StringStartsWith '{path}'))"
    )


def _az_roles(plan: deploy.Plan) -> list[tuple[str, str, str | None]]:
    out = []
    for argv in _steps(plan, "az", "role", "assignment", "create"):
        (role,), (scope,) = _values(argv, "--role"), _values(argv, "--scope")
        condition = _values(argv, "--condition") if "--condition" in argv else []
        if condition:
            assert _values(argv, "--condition-version") == ["2.0"]
        out.append((role, scope, condition[0] if condition else None))
    return out


def test_azure_without_configuration_writes_only_under_the_reserved_prefix_of_the_watched_account() -> None:
    from core.handlers.checkpoint import RESERVED_PREFIX

    assert RESERVED_PREFIX == ".circle/"  # the constant the probe and the checkpoints use
    roles = _az_roles(_plan("azure", AZ_ENV))
    assert roles[:2] == [
        ("Storage Blob Data Reader", "${SOURCE_ID}", None),
        (AZ_CONTRIBUTOR, "${SOURCE_ID}", _reserved_abac(".circle/")),
    ]
    one = _az_roles(_plan("azure", {**AZ_ENV, "CIRCLE_AZ_SOURCE_CONTAINER": "incoming"}))
    assert one[1] == (
        AZ_CONTRIBUTOR,
        "${SOURCE_ID}/blobServices/default/containers/incoming",
        _reserved_abac(".circle/"),
    )


def _store_config(tmp_path: Path, cloud: str) -> Path:
    """src (watched, under a prefix), dst (a target), api (written through an [http] grant), other (only
    probed and read through the API)."""
    if cloud == "az":
        opts = 'account_url = "https://{}.blob.core.windows.net"\n'
        stores = (
            f'[stores.src]\nurl = "az://incoming/data"\n{opts.format("circlesrc")}'
            f'[stores.dst]\nurl = "az://replica"\n{opts.format("replicaacct")}'
            f'[stores.api]\nurl = "az://uploads"\n{opts.format("circlesrc")}'
            f'[stores.other]\nurl = "az://archive"\n{opts.format("replicaacct")}'
        )
    else:
        stores = (
            '[stores.src]\nurl = "gs://src-bucket/data"\n[stores.dst]\nurl = "gs://dst-bucket"\n'
            '[stores.api]\nurl = "gs://api-bucket"\n[stores.other]\nurl = "gs://other-bucket"\n'
        )
    config = tmp_path / "circle.toml"
    config.write_text(
        stores + '[[replication]]\nsource = "src"\ntargets = ["dst"]\n'
        '[[http.grants]]\nprincipal = "group:uploaders"\nstores = ["api"]\nactions = ["read", "write"]\n'
        '[[http.grants]]\nprincipal = "group:readers"\nstores = ["*"]\nactions = ["read", "presign"]\n'
    )
    load_config(config)  # a configuration make bundle accepts
    return config


def test_azure_grants_each_store_what_the_functions_do_there(tmp_path: Path) -> None:
    known = facts(_store_config(tmp_path, "az"))
    assert known.http_written == {"api"}  # the read/presign grant on "*" writes nothing
    roles = _az_roles(_plan("azure", AZ_ENV, known))
    containers = "/blobServices/default/containers/"
    assert roles[0] == ("Storage Blob Data Reader", "${SOURCE_ID}", None)
    assert len(roles) == 5  # the reader, the four stores' roles below; no secret is referenced
    assert [r for r in roles if r[0] == AZ_CONTRIBUTOR] == [
        (AZ_CONTRIBUTOR, "${TARGET_REPLICAACCT}" + containers + "replica", None),
        (AZ_CONTRIBUTOR, "${SOURCE_ID}" + containers + "uploads", None),
        (AZ_CONTRIBUTOR, "${TARGET_REPLICAACCT}" + containers + "archive", _reserved_abac(".circle/")),
        (AZ_CONTRIBUTOR, "${SOURCE_ID}" + containers + "incoming", _reserved_abac("data/.circle/")),
    ]
    # A write grant on "*" makes every store writable anywhere: no store keeps a conditioned role.
    widened = tmp_path / "wide.toml"
    widened.write_text((tmp_path / "circle.toml").read_text().replace('stores = ["api"]', 'stores = ["*"]'))
    wide = _az_roles(_plan("azure", AZ_ENV, facts(widened)))
    assert [r for r in wide if r[0] == AZ_CONTRIBUTOR and r[2] is not None] == []
    assert len([r for r in wide if r[0] == AZ_CONTRIBUTOR]) == 4


def test_gcp_grants_each_store_what_the_functions_do_there(tmp_path: Path) -> None:
    plan = _plan("gcp", {**GCP_ENV, "CIRCLE_GCP_BUCKET": "src-bucket"}, facts(_store_config(tmp_path, "gs")))
    bindings = [
        (argv[4], _role_of(argv), [a for a in argv if a.startswith("--condition=")])
        for argv in _steps(plan, "gcloud", "storage", "buckets", "add-iam-policy-binding")
    ]
    sa = "--member=serviceAccount:circle-core@proj-1.iam.gserviceaccount.com"
    assert all(sa in argv for argv in _steps(plan, "gcloud", "storage", "buckets", "add-iam-policy-binding"))

    def reserved(bucket: str, path: str) -> list[str]:
        expression = f'resource.name.startsWith("projects/_/buckets/{bucket}/objects/{path}")'
        return [f"--condition=expression={expression},title=circle-reserved-prefix"]

    assert bindings == [
        ("gs://src-bucket", "roles/storage.objectViewer", []),
        ("gs://src-bucket", "roles/storage.objectUser", reserved("src-bucket", "data/.circle/")),
        ("gs://other-bucket", "roles/storage.objectViewer", []),
        ("gs://other-bucket", "roles/storage.objectUser", reserved("other-bucket", ".circle/")),
        ("gs://dst-bucket", "roles/storage.objectUser", []),  # replicas
        ("gs://api-bucket", "roles/storage.objectUser", []),  # [http] write grant: any key, any time
    ]
    # Without a configuration: the watched bucket, read everywhere, written under .circle/ only.
    bare = [
        (argv[4], _role_of(argv), [a for a in argv if a.startswith("--condition=")])
        for argv in _steps(_plan("gcp", GCP_ENV), "gcloud", "storage", "buckets", "add-iam-policy-binding")
    ]
    assert bare == [
        ("gs://src-bucket", "roles/storage.objectViewer", []),
        ("gs://src-bucket", "roles/storage.objectUser", reserved("src-bucket", ".circle/")),
    ]
