"""Deploy a bundle natively: ``python -m scripts.deploy aws|azure|gcp [--config circle.toml] [--execute]``.

Prints the exact commands (AWS SAM, Azure CLI + Core Tools, gcloud) as a shell script, filled in from
``CIRCLE_*`` environment variables and from the configuration the bundle ships (the buckets it reads and
writes, the secrets and KMS keys it references: scripts/deploy_config.py), so each function is granted
exactly what its configuration uses; unset values appear as ``<CIRCLE_...>`` placeholders. With
``--execute`` it runs them, but only when the cloud's CLI is on PATH, every placeholder is filled and the
bundle exists. Values later commands need (principal ids, resource ids) are captured from earlier ones,
printed as ``NAME=$(...)``. docs/deploy.md explains each step.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from scripts.deploy_config import ALARM_DEFAULTS, Facts, facts

ROOT = Path(__file__).resolve().parent.parent
PYTHON_VERSION = "3.13"  # Lambda python3.13, Azure --runtime-version 3.13, Cloud Functions python313

# Names the platforms route events to; tests check the adapters really define them.
AZURE_QUEUE_FUNCTION = "storage_queue"  # queue trigger on %CIRCLE_EVENTS_QUEUE% (AzureWebJobsStorage)
AZURE_EVENTS_QUEUE = "circle-storage-events"
AZURE_KEYVAULT_FUNCTION = "secret_near_expiry"
GCP_STORAGE_TARGET = "storage_event"
GCP_ROTATION_TARGET = "secret_rotation"

BLOB_EVENT_TYPES = ("Microsoft.Storage.BlobCreated", "Microsoft.Storage.BlobDeleted")
# Only fully committed writes and real deletes (the Azure docs' recommended data.api filter).
BLOB_APIS = ("CopyBlob", "PutBlob", "PutBlockList", "FlushWithClose", "DeleteBlob", "DeleteFile")
GCS_EVENT_TYPES = {
    "finalized": "google.cloud.storage.object.v1.finalized",
    "deleted": "google.cloud.storage.object.v1.deleted",
}
GCP_TIMEOUT_SECONDS = 540  # the Cloud Functions limit for event-driven functions
# CIRCLE_TIME_BUDGET_SECONDS is the platform's timeout; the adapters stop starting work
# CIRCLE_TIME_MARGIN_SECONDS (default 10) before it and answer "retry" for the rest.
GCP_TIME_BUDGET_SECONDS = GCP_TIMEOUT_SECONDS
_VAR = re.compile(r"\$\{([A-Z_]+)\}")
_PLACEHOLDER = re.compile(r"<(CIRCLE_[A-Z0-9_]+|AWS_[A-Z_]+)>")


class DeployError(Exception):
    """The plan cannot run as asked (missing CLI, unset setting, missing bundle, failed step)."""


# The Azure plan is Flex Consumption (`az functionapp create --flexconsumption-location`): its
# functionTimeout defaults to 30 minutes and may be raised without bound (the Consumption plan stops at
# 10). host.json sets it; the functions' budget is read from there so the two cannot drift.
AZURE_PLAN_FLAG = "--flexconsumption-location"


def host_timeout_seconds(path: Path = ROOT / "host.json") -> int:
    """host.json's ``functionTimeout`` (``hh:mm:ss``) in seconds."""
    import json

    value = str(json.loads(path.read_text(encoding="utf-8")).get("functionTimeout", ""))
    m = re.fullmatch(r"(\d{2}):(\d{2}):(\d{2})", value)
    if not m:
        raise DeployError(f"{path.name}: functionTimeout must be hh:mm:ss (a bounded timeout), got {value!r}")
    return int(m[1]) * 3600 + int(m[2]) * 60 + int(m[3])


AZURE_TIME_BUDGET_SECONDS = host_timeout_seconds()


@dataclass(frozen=True)
class Step:
    """One command. ``capture`` stores its stripped stdout in a variable later steps use as ``${NAME}``."""

    purpose: str
    argv: tuple[str, ...]
    capture: str | None = None
    cwd: str | None = None  # relative to the repository root
    ok_if_exists: bool = False
    # With ok_if_exists: a command printing JSON about the existing resource, and the value it must print
    # for "already exists" to count as success (the resource is the one this step would have made).
    verify: tuple[tuple[str, ...], object] | None = None

    def render(self) -> str:
        words = " ".join(_quote(a) for a in self.argv)
        line = f"{self.capture}=$({words})" if self.capture else words
        if self.cwd:
            line = f"(cd {shlex.quote(self.cwd)} && {line})"
        if self.verify is not None:
            check = " ".join(_quote(a) for a in self.verify[0])
            return line + f"  # fine if it already exists and `{check}` prints {_json(self.verify[1])}"
        return line + ("  # fine if it already exists" if self.ok_if_exists else "")


@dataclass
class Plan:
    cloud: str
    tools: tuple[str, ...]
    credentials: str
    bundle: str
    steps: list[Step] = field(default_factory=list)

    def add(
        self,
        purpose: str,
        *argv: str,
        capture: str | None = None,
        cwd: str | None = None,
        ok_if_exists: bool = False,
        verify: tuple[tuple[str, ...], object] | None = None,
    ) -> None:
        tolerated = ok_if_exists or verify is not None
        self.steps.append(Step(purpose, tuple(argv), capture, cwd, ok_if_exists=tolerated, verify=verify))

    def placeholders(self) -> list[str]:
        found = {m for s in self.steps for a in s.argv for m in _PLACEHOLDER.findall(a)}
        return sorted(found)

    def render(self) -> str:
        out = [
            f"# Circle Core: deploy to {self.cloud}. Needs: {', '.join(self.tools)} on PATH; "
            f"credentials: {self.credentials}.",
            f"# Bundle: {self.bundle} (make bundle).",
        ]
        if missing := self.placeholders():
            out.append(f"# Set these before running with --execute: {', '.join(missing)}")
        for step in self.steps:
            out += ["", f"# {step.purpose}", step.render()]
        return "\n".join(out) + "\n"


def _json(value: object) -> str:
    import json

    return json.dumps(value, separators=(",", ":"))


def _quote(arg: str) -> str:
    if _VAR.search(arg):  # keep ${NAME} expandable: double quotes, nothing else special inside
        return '"' + arg.replace("\\", "\\\\").replace('"', '\\"').replace("`", "\\`") + '"'
    return shlex.quote(arg)


class Settings:
    """``CIRCLE_*`` settings read from an environment mapping; an unset required one is a placeholder."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env

    def __call__(self, name: str, default: str | None = None) -> str:
        value = self.env.get(name, "").strip()
        return value or (default if default is not None else f"<{name}>")

    def has(self, *names: str) -> bool:
        return all(self.env.get(n, "").strip() for n in names)


# --- AWS -----------------------------------------------------------------------------------------
_SAM_PLAIN = re.compile(r"^[^\s\"'\\]*$")


def sam_override(key: str, value: str) -> str:
    """One ``Key=Value`` item of ``sam deploy --parameter-overrides``. SAM splits the option's value on
    spaces and strips one pair of wrapping quotes, unescaping ``\\"`` inside: a value with spaces or
    quotes (``cron(0 4 ? * SUN *)``, ``rate(30 days)``) is wrapped in double quotes."""
    if "\\" in value:
        raise DeployError(f"{key}: a backslash cannot be passed through sam --parameter-overrides")
    if _SAM_PLAIN.match(value) and value:
        return f"{key}={value}"
    return f'{key}="' + value.replace('"', '\\"') + '"'


def _csv(*parts: str | Sequence[str]) -> str:
    items: list[str] = []
    for part in parts:
        items += part.split(",") if isinstance(part, str) else list(part)
    return ",".join(dict.fromkeys(i.strip() for i in items if i.strip()))


def plan_aws(s: Settings, config: Facts | None = None) -> Plan:
    plan = Plan(
        "aws",
        ("sam", "aws"),
        "an AWS profile or AWS_ACCESS_KEY_ID/... with CloudFormation, IAM, Lambda, S3, SQS, SNS, EventBridge "
        "and Secrets Manager rights",
        "dist/aws (template.yaml: CodeUri: dist/aws/)",
    )
    plan.add(
        "Lint the template (cfn-lint with the SAM transform; tests/deploy runs cfn-lint and the SAM translator).",
        "sam",
        "validate",
        "--lint",
        "--template-file",
        "template.yaml",
    )
    plan.add(
        f"Build: installs dist/aws/requirements.txt for python{PYTHON_VERSION}/arm64 into .aws-sam/.",
        "sam",
        "build",
        "--template-file",
        "template.yaml",
    )
    region = ("--region", s("AWS_REGION")) if s.has("AWS_REGION") else ()
    stack = s("CIRCLE_AWS_STACK", "circle-core")
    s3_sources = config.read_buckets("s3") if config else []
    source = s("CIRCLE_AWS_SOURCE_BUCKET", s3_sources[0] if len(s3_sources) == 1 else None)
    existing = s("CIRCLE_AWS_EXISTING_BUCKET", "false").lower() in {"1", "true", "yes"}
    if existing and s("CIRCLE_AWS_ENABLE_EVENTBRIDGE", "false").lower() in {"1", "true", "yes"}:
        plan.add(
            "Turn on EventBridge notifications of the existing bucket. NB: this call REPLACES the bucket's "
            "notification configuration; if it has other notifications, add EventBridgeConfiguration to them "
            "instead (docs/deploy.md).",
            "aws",
            "s3api",
            "put-bucket-notification-configuration",
            "--bucket",
            source,
            "--notification-configuration",
            '{"EventBridgeConfiguration": {}}',
            *region,
        )
    if source.startswith("<") or not s.has("CIRCLE_AWS_ROTATED_USER"):
        plan.add(
            "First deployment: SAM asks for every parameter and saves the answers in samconfig.toml "
            "(set CIRCLE_AWS_SOURCE_BUCKET, or name one S3 source in the configuration, and "
            "CIRCLE_AWS_ROTATED_USER for an unattended deploy).",
            "sam",
            "deploy",
            "--guided",
            "--stack-name",
            stack,
            "--capabilities",
            "CAPABILITY_IAM",
            *region,
        )
    else:
        secret_names = config.secret_names if config else ()
        secret_arns = s("CIRCLE_AWS_SECRET_ARNS", "")
        if secret_names:
            plan.add(
                "The account id (names the configuration's secrets).",
                "aws",
                "sts",
                "get-caller-identity",
                "--query",
                "Account",
                "--output",
                "text",
                capture="ACCOUNT_ID",
            )
            if not region:
                plan.add("The deployment region.", "aws", "configure", "get", "region", capture="REGION")
            where = f"{s('AWS_REGION')}" if region else "${REGION}"
            partition = s("CIRCLE_AWS_PARTITION", "aws")
            # Secrets Manager appends six random characters to a secret's name in its ARN.
            secret_arns = _csv(
                secret_arns,
                [f"arn:{partition}:secretsmanager:{where}:${{ACCOUNT_ID}}:secret:{n}-??????" for n in secret_names],
            )
        params = {
            "SourceBucketName": source,
            "RotatedUserName": s("CIRCLE_AWS_ROTATED_USER"),
            "CreateSourceBucket": "false" if existing else "true",
            "TargetBucketNames": _csv(s("CIRCLE_AWS_TARGET_BUCKETS", ""), config.write_buckets("s3") if config else []),
            "ConfigSecretArns": secret_arns,
            "KmsKeyArns": _csv(s("CIRCLE_AWS_KMS_KEY_ARNS", ""), config.kms_keys if config else ()),
            "CircleEnv": s("CIRCLE_ENV", ""),
            "AlarmEmail": s("CIRCLE_AWS_ALARM_EMAIL", ""),
            "RotationSecretArn": s("CIRCLE_AWS_ROTATION_SECRET_ARN", ""),
            "RotationScheduleExpression": s("CIRCLE_AWS_ROTATION_SCHEDULE", ""),
            "LogLevel": s("CIRCLE_LOG_LEVEL", ""),
            **aws_alarm_parameters(config),  # monitoring: thresholds from [monitoring.thresholds]
        }
        overrides = [sam_override(k, v) for k, v in params.items() if v]
        plan.add(
            "Deploy the stack (bucket events -> SQS -> StorageEventFunction, DLQ + alarm topic, RotationFunction).",
            "sam",
            "deploy",
            "--stack-name",
            stack,
            "--capabilities",
            "CAPABILITY_IAM",
            "--resolve-s3",
            "--no-fail-on-empty-changeset",
            "--parameter-overrides",
            *overrides,
            *region,
        )
    plan.add(
        "The rotated secret's ARN (a stack output).",
        "aws",
        "cloudformation",
        "describe-stacks",
        "--stack-name",
        stack,
        "--query",
        "Stacks[0].Outputs[?OutputKey=='RotationSecretArn'].OutputValue",
        "--output",
        "text",
        *region,
        capture="SECRET_ARN",
    )
    plan.add(
        "Rotate once, on the first deploy only: the first rotation mints the first key pair, later ones follow "
        "the schedule. A secret that was ever rotated (LastRotatedDate set) is left alone, so a rerun does not "
        "replace a working key pair.",
        "bash",
        "-c",
        rotate_once_script(region),
        "rotate-once",
        "${SECRET_ARN}",
    )
    return plan


def rotate_once_script(region: Sequence[str] = ()) -> str:
    """``bash -c`` body (the secret's ARN as ``$1``): ``rotate-secret`` only when the secret has never been
    rotated. ``describe-secret`` failing fails the step (an unknown secret must not look unrotated)."""
    describe = shlex.join(
        ["aws", "secretsmanager", "describe-secret", "--query", "LastRotatedDate", "--output", "text", *region]
    )
    rotate = shlex.join(["aws", "secretsmanager", "rotate-secret", *region])
    return (
        f'last=$({describe} --secret-id "$1") || exit; '
        f'if [ "$last" = None ] || [ -z "$last" ]; then {rotate} --secret-id "$1"; '
        'else echo "already rotated ($last): the schedule rotates it next"; fi'
    )


# --- Azure ---------------------------------------------------------------------------------------
def _truthy(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes"}


def _role(plan: Plan, purpose: str, role: str, scope: str, condition: str | None = None) -> None:
    """A role assignment for the app's identity; a rerun meets "already exists" for the same principal,
    role and scope, which is the assignment wanted. ``condition``: an Azure ABAC condition (version 2.0)."""
    conditioned = ("--condition", condition, "--condition-version", "2.0") if condition else ()
    plan.add(
        purpose,
        "az",
        "role",
        "assignment",
        "create",
        "--assignee-object-id",
        "${PRINCIPAL_ID}",
        "--assignee-principal-type",
        "ServicePrincipal",
        "--role",
        role,
        "--scope",
        scope,
        *conditioned,
        ok_if_exists=True,
    )


# The data actions of Storage Blob Data Contributor that change blobs: write, create/append, delete and
# (hierarchical namespace) rename. The reserved-prefix condition allows them only on Circle's own paths.
AZURE_BLOB_CHANGES = tuple(
    f"Microsoft.Storage/storageAccounts/blobServices/containers/blobs/{a}"
    for a in ("write", "add/action", "delete", "move/action")
)


def azure_reserved_condition(path: str) -> str:
    """An ABAC condition letting Storage Blob Data Contributor read anything but change only blobs whose
    path (relative to the container, no leading slash) starts with ``path``."""
    if "'" in path:
        raise DeployError(f"{path!r}: a quote cannot appear in an Azure role condition's path")
    actions = " AND ".join(f"!(ActionMatches{{'{a}'}})" for a in AZURE_BLOB_CHANGES)
    return (
        f"(({actions}) OR "
        f"(@Resource[Microsoft.Storage/storageAccounts/blobServices/containers/blobs:path] StringStartsWith '{path}'))"
    )


def azure_store_roles(plan: Plan, s: Settings, config: Facts | None, source: str) -> None:
    """Storage Blob Data Contributor on each container of an identity-reached ``az://`` store: without a
    condition where the functions write anywhere (replication targets, dead letters, stores [http]
    grants make writable), else restricted to the store's reserved prefix (the probe's canary, the
    reconciliation checkpoints). Without a configuration: the reserved prefix in the watched account
    (``CIRCLE_AZ_SOURCE_CONTAINER`` only, when set)."""
    from core.handlers.checkpoint import RESERVED_PREFIX

    if config is None:
        scope = "${SOURCE_ID}"
        if s.has("CIRCLE_AZ_SOURCE_CONTAINER"):
            scope += f"/blobServices/default/containers/{s('CIRCLE_AZ_SOURCE_CONTAINER')}"
        _role(
            plan,
            f"Write only under {RESERVED_PREFIX} in the watched account: the probe's canary and the "
            "reconciliation checkpoints (read stays everywhere).",
            "Storage Blob Data Contributor",
            scope,
            azure_reserved_condition(RESERVED_PREFIX),
        )
        return
    accounts: dict[str, str] = {source: "${SOURCE_ID}"}

    def account_id(account: str, store: str) -> str:
        if account not in accounts:
            var = "TARGET_" + re.sub(r"[^A-Z0-9]", "_", account.upper())
            plan.add(
                f"Resource id of storage account {account} (store {store}).",
                "az",
                "storage",
                "account",
                "show",
                "--name",
                account,
                "--query",
                "id",
                "--output",
                "tsv",
                capture=var,
            )
            accounts[account] = f"${{{var}}}"
        return accounts[account]

    full: set[tuple[str, str]] = set()
    kinds = (
        (config.written_stores("az"), "Write replicas (or dead letters) into"),
        (config.http_written_stores("az"), "HTTP API writes and deletes ([http] grants with write/delete) in"),
    )
    for stores, why in kinds:
        for store in stores:
            if (account := store.azure_account) is None:
                continue  # a connection string (or the environment's) carries its own key: no role to grant
            container = f"{account_id(account, store.name)}/blobServices/default/containers/{store.bucket}"
            if (account, store.bucket) not in full:
                full.add((account, store.bucket))
                _role(plan, f"{why} container {store.bucket} of {account} (store {store.name}).",
                      "Storage Blob Data Contributor", container)  # fmt: skip
    done: set[tuple[str, str, str]] = set()
    for store in config.reserved_only_stores("az"):
        account = store.azure_account
        if account is None or (account, store.bucket) in full or (account, store.bucket, store.reserved_path) in done:
            continue
        done.add((account, store.bucket, store.reserved_path))
        container = f"{account_id(account, store.name)}/blobServices/default/containers/{store.bucket}"
        _role(
            plan,
            f"Read container {store.bucket} of {account} (store {store.name}) and write only under "
            f"{store.reserved_path}: the probe's canary and the reconciliation checkpoints.",
            "Storage Blob Data Contributor",
            container,
            azure_reserved_condition(store.reserved_path),
        )


def plan_azure(s: Settings, config: Facts | None = None, *, publish: str = "func") -> Plan:
    tools = ("az", "func") if publish == "func" else ("az",)
    plan = Plan(
        "azure",
        tools,
        "`az login` as a user who can create resources and role assignments in the resource group",
        "dist/azure (function_app.py + host.json at its root)",
    )
    rg, app, host = (
        s("CIRCLE_AZ_RESOURCE_GROUP", "circle-core"),
        s("CIRCLE_AZ_FUNCTION_APP"),
        s("CIRCLE_AZ_HOST_STORAGE"),
    )
    location, source, vault = s("CIRCLE_AZ_LOCATION"), s("CIRCLE_AZ_SOURCE_ACCOUNT"), s("CIRCLE_AZ_KEY_VAULT")
    queue = s("CIRCLE_AZ_EVENTS_QUEUE", AZURE_EVENTS_QUEUE)
    dead_letters = "eventgrid-deadletter"
    plan.add(
        "Register the Event Grid resource provider (once per subscription).",
        "az",
        "provider",
        "register",
        "--namespace",
        "Microsoft.EventGrid",
        "--wait",
    )
    plan.add("Resource group.", "az", "group", "create", "--name", rg, "--location", location)
    account = ("--resource-group", rg, "--location", location, "--sku", "Standard_LRS")
    plan.add(
        "Storage account for the Functions host, the events queue and the Event Grid dead letters.",
        "az",
        "storage",
        "account",
        "create",
        "--name",
        host,
        *account,
        "--allow-blob-public-access",
        "false",
    )
    if _truthy(s("CIRCLE_AZ_CREATE_SOURCE_ACCOUNT", "false")):
        plan.add(
            "The watched storage account (CIRCLE_AZ_CREATE_SOURCE_ACCOUNT=true; otherwise an existing one).",
            "az",
            "storage",
            "account",
            "create",
            "--name",
            source,
            *account,
            "--kind",
            "StorageV2",
            "--allow-blob-public-access",
            "false",
        )
    plan.add(
        "Function app on the Flex Consumption plan (a rerun finds it: same name, same group).",
        "az",
        "functionapp",
        "create",
        "--name",
        app,
        "--resource-group",
        rg,
        "--storage-account",
        host,
        AZURE_PLAN_FLAG,
        location,
        "--runtime",
        "python",
        "--runtime-version",
        PYTHON_VERSION,
        # A rerun finds the app: it must be this group's Flex Consumption app on this runtime (an app of the
        # same name elsewhere, on another plan or runtime, stops the deploy instead of being published to).
        verify=(
            (
                "az",
                "functionapp",
                "show",
                "--name",
                app,
                "--resource-group",
                rg,
                "--query",
                "[functionAppConfig.runtime.name, functionAppConfig.runtime.version]",
                "--output",
                "json",
            ),
            ["python", PYTHON_VERSION],
        ),
    )
    plan.add(
        "Managed identity for the app; later role assignments use its principal id.",
        "az",
        "functionapp",
        "identity",
        "assign",
        "--name",
        app,
        "--resource-group",
        rg,
        "--query",
        "principalId",
        "--output",
        "tsv",
        capture="PRINCIPAL_ID",
    )
    settings = [
        "CIRCLE_CONFIG=/home/site/wwwroot/circle.toml",
        f"CIRCLE_EVENTS_QUEUE={queue}",
        f"CIRCLE_SECRETS_URL=keyvault://{vault}",
        f"CIRCLE_TIME_BUDGET_SECONDS={AZURE_TIME_BUDGET_SECONDS}",
    ]
    if s.has("CIRCLE_ENV"):
        settings.append(f"CIRCLE_ENV={s('CIRCLE_ENV')}")
    settings += _azure_jobs_settings(s)  # jobs
    plan.add(
        "Configuration: the bundle's circle.toml, the events queue, secret:// references read from the Key "
        "Vault, and the overlay to apply (unset: the base file).",
        "az",
        "functionapp",
        "config",
        "appsettings",
        "set",
        "--name",
        app,
        "--resource-group",
        rg,
        "--settings",
        *settings,
    )
    plan.add(
        "Resource id of the watched storage account.",
        "az",
        "storage",
        "account",
        "show",
        "--name",
        source,
        "--query",
        "id",
        "--output",
        "tsv",
        capture="SOURCE_ID",
    )
    _role(plan, "Read the watched account's blobs (data plane only).", "Storage Blob Data Reader", "${SOURCE_ID}")
    azure_store_roles(plan, s, config, source)
    plan.add(
        "Resource id of the Key Vault holding the credentials.",
        "az",
        "keyvault",
        "show",
        "--name",
        vault,
        "--query",
        "id",
        "--output",
        "tsv",
        capture="VAULT_ID",
    )
    for name in config.secret_names if config else ():
        _role(
            plan,
            f"Read the secret {name} the configuration references (RBAC vault).",
            "Key Vault Secrets User",
            f"${{VAULT_ID}}/secrets/{name}",
        )
    for name in filter(None, (n.strip() for n in s("CIRCLE_AZ_ROTATED_SECRETS", "").split(","))):
        _role(
            plan,
            f"Rotate the secret {name}: read and write its versions.",
            "Key Vault Secrets Officer",
            f"${{VAULT_ID}}/secrets/{name}",
        )
    if publish == "func":
        plan.add(
            "Publish the bundle (remote build installs requirements.txt).",
            "func",
            "azure",
            "functionapp",
            "publish",
            app,
            "--python",
            cwd="dist/azure",
        )
    else:
        plan.add(
            "Zip the bundle.",
            sys.executable,
            "-c",
            "import shutil; shutil.make_archive('dist/azure', 'zip', 'dist/azure')",
        )
        plan.add(
            "Zip deploy with a remote build.",
            "az",
            "functionapp",
            "deployment",
            "source",
            "config-zip",
            "--name",
            app,
            "--resource-group",
            rg,
            "--src",
            "dist/azure.zip",
            "--build-remote",
            "true",
        )
    plan.add(
        "Resource id of the function app (the Key Vault subscription's endpoint).",
        "az",
        "functionapp",
        "show",
        "--name",
        app,
        "--resource-group",
        rg,
        "--query",
        "id",
        "--output",
        "tsv",
        capture="APP_ID",
    )
    plan.add(
        "Host storage account id.",
        "az",
        "storage",
        "account",
        "show",
        "--name",
        host,
        "--resource-group",
        rg,
        "--query",
        "id",
        "--output",
        "tsv",
        capture="HOST_ID",
    )
    plan.add(
        "Dead-letter container for undeliverable events.",
        "az",
        "storage",
        "container-rm",
        "create",
        "--storage-account",
        host,
        "--resource-group",
        rg,
        "--name",
        dead_letters,
        ok_if_exists=True,
    )
    plan.add(
        f"The events queue the {AZURE_QUEUE_FUNCTION} function reads (its poison queue, {queue}-poison, is "
        "created by the Functions host).",
        "az",
        "storage",
        "queue-rm",
        "create",
        "--storage-account",
        host,
        "--resource-group",
        rg,
        "--name",
        queue,
        ok_if_exists=True,
    )
    plan.add(  # jobs
        "The jobs queue: fan-out range messages for the jobs_queue function (docs/jobs.md).",
        "az",
        "storage",
        "queue-rm",
        "create",
        "--storage-account",
        host,
        "--resource-group",
        rg,
        "--name",
        s("CIRCLE_AZ_JOBS_QUEUE", "circle-jobs"),
        ok_if_exists=True,
    )
    subject = (
        ("--subject-begins-with", f"/blobServices/default/containers/{s('CIRCLE_AZ_SOURCE_CONTAINER')}/")
        if s.has("CIRCLE_AZ_SOURCE_CONTAINER")
        else ()
    )
    delivery = (
        "--event-delivery-schema",
        "eventgridschema",
        "--max-delivery-attempts",
        "30",
        "--event-ttl",
        "1440",
        "--deadletter-endpoint",
        f"${{HOST_ID}}/blobServices/default/containers/{dead_letters}",
    )
    plan.add(
        "Blob created/deleted events -> the events queue -> the queue-triggered function. Event Grid waits "
        "about 30 s for a function's answer and then redelivers, so a long copy would run twice; a queue "
        "message stays invisible while the function works, and after 5 failed attempts moves to the poison "
        "queue. (Create/update: a rerun updates the subscription in place.)",
        "az",
        "eventgrid",
        "event-subscription",
        "create",
        "--name",
        "circle-blob-events",
        "--source-resource-id",
        "${SOURCE_ID}",
        "--endpoint-type",
        "storagequeue",
        "--endpoint",
        f"${{HOST_ID}}/queueServices/default/queues/{queue}",
        "--storage-queue-msg-ttl",
        "604800",
        "--included-event-types",
        *BLOB_EVENT_TYPES,
        "--advanced-filter",
        "data.api",
        "StringIn",
        *BLOB_APIS,
        *subject,
        *delivery,
    )
    plan.add(
        "Key Vault SecretNearExpiry (30 days before expiry) -> the rotation function.",
        "az",
        "eventgrid",
        "event-subscription",
        "create",
        "--name",
        "circle-secret-near-expiry",
        "--source-resource-id",
        "${VAULT_ID}",
        "--endpoint-type",
        "azurefunction",
        "--endpoint",
        f"${{APP_ID}}/functions/{AZURE_KEYVAULT_FUNCTION}",
        "--included-event-types",
        "Microsoft.KeyVault.SecretNearExpiry",
        *delivery,
    )
    azure_alerts(plan, s, config)  # monitoring: action group and metric alerts
    # -- HTTP API (issue 10, http area): the catch-all http_api function ships in the same app; its
    # -- front door is a function key (AuthLevel.FUNCTION). Callers send it as x-functions-key.
    plan.add(
        "HTTP API front door: the function key callers send as x-functions-key (docs/http-api.md).",
        "az",
        "functionapp",
        "function",
        "keys",
        "list",
        "--resource-group",
        rg,
        "--name",
        app,
        "--function-name",
        "http_api",
        capture="HTTP_API_KEYS",
    )
    return plan


# --- GCP -----------------------------------------------------------------------------------------
def gcp_rotated_secrets(s: Settings, config: Facts | None, project: str) -> list[tuple[str, str]]:
    """``(project, secret)`` of every secret rotated on Google Cloud: each ``[[rotation]]`` entry in a
    ``gcp-sm://`` store (``secrets = "vault"`` too: the plan sets ``CIRCLE_SECRETS_URL=gcp-sm://<project>``),
    plus ``CIRCLE_GCP_SECRET`` (comma-separated). Neither: the ``<CIRCLE_GCP_SECRET>`` placeholder."""
    named = [(project, n.strip()) for n in s("CIRCLE_GCP_SECRET", "").split(",") if n.strip()]
    if config is not None:
        named += [(host or project, name) for host, name in config.rotated_secrets("gcp-sm", f"gcp-sm://{project}")]
    return list(dict.fromkeys(named)) or [(project, s("CIRCLE_GCP_SECRET"))]


GCP_RESERVED_TITLE = "circle-reserved-prefix"


def gcp_reserved_condition(bucket: str, path: str) -> str:
    """``--condition`` of a bucket binding that applies to objects under ``path`` only (an IAM condition
    on the object's resource name; the bucket needs uniform bucket-level access)."""
    if any(c in path + bucket for c in ',"\\'):
        raise DeployError(f"gs://{bucket}/{path}: a comma, quote or backslash cannot appear in a gcloud condition")
    expression = f'resource.name.startsWith("projects/_/buckets/{bucket}/objects/{path}")'
    return f"--condition=expression={expression},title={GCP_RESERVED_TITLE}"


def gcp_store_bindings(plan: Plan, s: Settings, config: Facts | None, watched: str, sa: str) -> None:
    """Bucket bindings for the functions' service account: ``roles/storage.objectUser`` on every bucket
    written anywhere (replication targets, dead letters, ``CIRCLE_GCP_TARGET_BUCKETS``, and the stores
    [http] grants make writable); on every other bucket the configuration names (and the watched one)
    ``roles/storage.objectViewer`` plus ``roles/storage.objectUser`` conditioned on the store's reserved
    prefix (the probe's canary, the reconciliation checkpoints)."""
    from core.handlers.checkpoint import RESERVED_PREFIX

    member = f"--member=serviceAccount:{sa}"

    def bind(purpose: str, bucket: str, role: str, *condition: str) -> None:
        plan.add(purpose, "gcloud", "storage", "buckets", "add-iam-policy-binding", f"gs://{bucket}", member,
                 f"--role={role}", *condition)  # fmt: skip

    written = _csv(s("CIRCLE_GCP_TARGET_BUCKETS", ""), config.write_buckets("gs") if config else []).split(",")
    http = [b.bucket for b in config.http_written_stores("gs")] if config else []
    full = [b for b in dict.fromkeys([*written, *http]) if b]
    reserved: dict[str, list[str]] = {}  # bucket -> reserved paths (one per store prefix)
    for store in config.reserved_only_stores("gs") if config else []:
        reserved.setdefault(store.bucket, []).append(store.reserved_path)
    reserved = {watched: reserved.pop(watched, [RESERVED_PREFIX]), **reserved}  # the watched bucket first
    for bucket, paths in reserved.items():
        if bucket in full:
            continue  # objectUser on the whole bucket covers reading it and its reserved prefix
        what = "the watched bucket" if bucket == watched else f"gs://{bucket}"
        bind(f"Read {what} (objects and listings).", bucket, "roles/storage.objectViewer")
        for path in dict.fromkeys(paths):
            bind(
                f"Write only under {path} in gs://{bucket}: the probe's canary and the reconciliation checkpoints.",
                bucket,
                "roles/storage.objectUser",
                gcp_reserved_condition(bucket, path),
            )
    for bucket in full:
        why = (
            "HTTP API writes and deletes ([http] grants with write/delete)"
            if bucket in http and bucket not in written
            else "replicas (or dead letters)"
        )
        bind(f"Write {why} into gs://{bucket}.", bucket, "roles/storage.objectUser")


def plan_gcp(s: Settings, config: Facts | None = None, *, now: datetime | None = None) -> Plan:
    plan = Plan(
        "gcp",
        ("gcloud",),
        "`gcloud auth login` as a project owner (or an account with the "
        "Functions, Eventarc, Pub/Sub, IAM, Storage and Secret Manager admin roles)",
        "dist/gcp (main.py at its root)",
    )
    gs_sources = config.read_buckets("gs") if config else []
    project, region = s("CIRCLE_GCP_PROJECT"), s("CIRCLE_GCP_REGION")
    bucket = s("CIRCLE_GCP_BUCKET", gs_sources[0] if len(gs_sources) == 1 else None)
    sa_name = s("CIRCLE_GCP_SERVICE_ACCOUNT_NAME", "circle-core")
    sa = f"{sa_name}@{project}.iam.gserviceaccount.com"
    topic = s("CIRCLE_GCP_ROTATION_TOPIC", "circle-secret-rotation")
    next_rotation = s(
        "CIRCLE_GCP_NEXT_ROTATION", ((now or datetime.now(UTC)) + timedelta(days=1)).strftime("%Y-%m-%dT%H:00:00Z")
    )
    location = s("CIRCLE_GCP_BUCKET_LOCATION", region)
    p = f"--project={project}"
    plan.add(
        "Enable the APIs.",
        "gcloud",
        "services",
        "enable",
        "cloudfunctions.googleapis.com",
        "run.googleapis.com",
        "eventarc.googleapis.com",
        "cloudbuild.googleapis.com",
        "artifactregistry.googleapis.com",
        "pubsub.googleapis.com",
        "cloudscheduler.googleapis.com",  # jobs
        "secretmanager.googleapis.com",
        "storage.googleapis.com",
        p,
    )
    if _truthy(s("CIRCLE_GCP_CREATE_BUCKET", "false")):
        plan.add(
            "The watched bucket (CIRCLE_GCP_CREATE_BUCKET=true; otherwise an existing one).",
            "gcloud",
            "storage",
            "buckets",
            "create",
            f"gs://{bucket}",
            p,
            f"--location={location}",
            "--uniform-bucket-level-access",
            "--public-access-prevention",
            ok_if_exists=True,
        )
    plan.add(
        "Project number (names the Secret Manager service agent).",
        "gcloud",
        "projects",
        "describe",
        project,
        "--format=value(projectNumber)",
        capture="PROJECT_NUMBER",
    )
    plan.add("Cloud Storage service agent.", "gcloud", "storage", "service-agent", p, capture="GCS_AGENT")
    plan.add(
        "Cloud Storage publishes object events to Pub/Sub for Eventarc.",
        "gcloud",
        "projects",
        "add-iam-policy-binding",
        project,
        "--member=serviceAccount:${GCS_AGENT}",
        "--role=roles/pubsub.publisher",
        "--condition=None",
    )
    plan.add(
        "Service account the functions run as.",
        "gcloud",
        "iam",
        "service-accounts",
        "create",
        sa_name,
        p,
        "--display-name=Circle Core functions",
        ok_if_exists=True,
    )
    gcp_store_bindings(plan, s, config, bucket, sa)
    for name in config.secret_names if config else ():
        plan.add(
            f"Read the secret {name} the configuration references.",
            "gcloud",
            "secrets",
            "add-iam-policy-binding",
            name,
            p,
            f"--member=serviceAccount:{sa}",
            "--role=roles/secretmanager.secretAccessor",
        )
    plan.add(
        "Receive Eventarc events.",
        "gcloud",
        "projects",
        "add-iam-policy-binding",
        project,
        f"--member=serviceAccount:{sa}",
        "--role=roles/eventarc.eventReceiver",
        "--condition=None",
    )
    env_vars = [
        "CIRCLE_CONFIG=/workspace/circle.toml",
        f"CIRCLE_SECRETS_URL=gcp-sm://{project}",
        f"CIRCLE_TIME_BUDGET_SECONDS={GCP_TIME_BUDGET_SECONDS}",
    ]
    if s.has("CIRCLE_ENV"):
        env_vars.append(f"CIRCLE_ENV={s('CIRCLE_ENV')}")
    common = (
        "--gen2",
        f"--runtime=python{PYTHON_VERSION.replace('.', '')}",
        p,
        f"--region={region}",
        "--source=dist/gcp",
        f"--service-account={sa}",
        f"--trigger-service-account={sa}",
        "--set-env-vars=" + ",".join(env_vars),
        "--memory=512Mi",
        f"--timeout={GCP_TIMEOUT_SECONDS}s",
        "--ingress-settings=internal-only",
        "--no-allow-unauthenticated",
        "--retry",
    )
    functions = []
    for kind, event_type in GCS_EVENT_TYPES.items():
        name = f"circle-storage-{kind}"
        functions.append(name)
        plan.add(
            f"Objects {kind} in gs://{bucket} -> storage_event (Eventarc, retried until it succeeds).",
            "gcloud",
            "functions",
            "deploy",
            name,
            f"--entry-point={GCP_STORAGE_TARGET}",
            f"--trigger-event-filters=type={event_type}",
            f"--trigger-event-filters=bucket={bucket}",
            f"--trigger-location={location}",
            *common,
        )
    plan.add(
        "Topic Secret Manager publishes rotation notices to.",
        "gcloud",
        "pubsub",
        "topics",
        "create",
        topic,
        p,
        ok_if_exists=True,
    )
    plan.add(
        "Create the Secret Manager service agent.",
        "gcloud",
        "beta",
        "services",
        "identity",
        "create",
        "--service=secretmanager.googleapis.com",
        p,
    )
    plan.add(
        "Let Secret Manager publish to the topic.",
        "gcloud",
        "pubsub",
        "topics",
        "add-iam-policy-binding",
        topic,
        p,
        "--member=serviceAccount:service-${PROJECT_NUMBER}@gcp-sa-secretmanager.iam.gserviceaccount.com",
        "--role=roles/pubsub.publisher",
    )
    for secret_project, secret in gcp_rotated_secrets(s, config, project):
        sp = f"--project={secret_project}"
        plan.add(
            f"Rotation schedule on the secret {secret}: SECRET_ROTATE messages every period.",
            "gcloud",
            "secrets",
            "update",
            secret,
            sp,
            f"--add-topics=projects/{project}/topics/{topic}",
            f"--next-rotation-time={next_rotation}",
            f"--rotation-period={s('CIRCLE_GCP_ROTATION_PERIOD', '2592000s')}",
        )
        plan.add(
            f"roles/secretmanager.admin on the rotated secret {secret} only: the provider updates the secret "
            "itself (aliases, annotations), which no smaller predefined role allows (docs/rotation.md).",
            "gcloud",
            "secrets",
            "add-iam-policy-binding",
            secret,
            sp,
            f"--member=serviceAccount:{sa}",
            "--role=roles/secretmanager.admin",
        )
    plan.add(
        "Rotate GCS HMAC keys (the GCS HMAC rotator).",
        "gcloud",
        "projects",
        "add-iam-policy-binding",
        project,
        f"--member=serviceAccount:{sa}",
        "--role=roles/storage.hmacKeyAdmin",
        "--condition=None",
    )
    functions.append("circle-secret-rotation")
    plan.add(
        "Pub/Sub SECRET_ROTATE -> secret_rotation (retried until it succeeds).",
        "gcloud",
        "functions",
        "deploy",
        "circle-secret-rotation",
        f"--entry-point={GCP_ROTATION_TARGET}",
        f"--trigger-topic={topic}",
        *common,
    )
    # -- HTTP API (issue 10, http area): an HTTP-triggered function, IAM invoker only (Cloud Functions
    # -- checks the caller's Google identity token before the core checks its JWT or API key).
    http_env = [v for v in env_vars if not v.startswith("CIRCLE_TIME_BUDGET_SECONDS=")]
    plan.add(
        "The storage HTTP API (gcp_functions.main.http), authenticated callers only.",
        "gcloud",
        "functions",
        "deploy",
        "circle-http-api",
        "--entry-point=http",
        "--trigger-http",
        "--gen2",
        f"--runtime=python{PYTHON_VERSION.replace('.', '')}",
        p,
        f"--region={region}",
        "--source=dist/gcp",
        f"--service-account={sa}",
        "--set-env-vars=" + ",".join(http_env),
        "--memory=512Mi",
        "--timeout=60s",
        "--no-allow-unauthenticated",
    )
    if s.has("CIRCLE_GCP_HTTP_INVOKER"):
        plan.add(
            "Let the HTTP API's callers invoke it (Cloud Functions IAM invoker).",
            "gcloud",
            "functions",
            "add-invoker-policy-binding",
            "circle-http-api",
            f"--region={region}",
            p,
            f"--member={s('CIRCLE_GCP_HTTP_INVOKER')}",
        )
    _plan_gcp_jobs(plan, s, project, region, sa, common, functions)  # jobs
    for name in functions:
        plan.add(
            f"Let the trigger's service account invoke {name}.",
            "gcloud",
            "functions",
            "add-invoker-policy-binding",
            name,
            f"--region={region}",
            p,
            f"--member=serviceAccount:{sa}",
        )
    gcp_alerts(plan, s, config)  # monitoring: notification channel and alerting policies
    return plan


# --- monitoring (monitor helper): alarms and alerts from [monitoring.thresholds] -------------------------
def _thresholds(config: Facts | None) -> dict[str, float]:
    return dict(config.alarm_thresholds) if config else dict(ALARM_DEFAULTS)


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def aws_alarm_parameters(config: Facts | None) -> dict[str, str]:
    """template.yaml's alarm thresholds (only those the configuration sets: the rest keep the defaults)."""
    if config is None:
        return {}
    t = config.alarm_thresholds
    names = {
        "replication_lag_seconds": "AlarmReplicationLagSeconds",
        "failed_replications": "AlarmFailedReplications",
        "queue_age_seconds": "AlarmQueueAgeSeconds",
        "dlq_depth": "AlarmDeadLetterDepth",
        "errors": "AlarmErrors",
        "throttles": "AlarmThrottles",
    }
    return {param: _num(t[key]) for key, param in names.items() if t[key] != ALARM_DEFAULTS[key]}


def azure_alerts(plan: Plan, s: Settings, config: Facts | None) -> None:
    """An action group (e-mail ``CIRCLE_AZ_ALARM_EMAIL`` when set) and metric alerts on the app's
    Application Insights (created with the app, named after it: errors, lag, failures, failed probes),
    the app itself (Http429, Azure's throttle) and the host storage account's queues."""
    t = _thresholds(config)
    rg, app = s("CIRCLE_AZ_RESOURCE_GROUP", "circle-core"), s("CIRCLE_AZ_FUNCTION_APP")
    email = ("--action", "email", "ops", s("CIRCLE_AZ_ALARM_EMAIL")) if s.has("CIRCLE_AZ_ALARM_EMAIL") else ()
    plan.add(
        "Action group the alerts notify (add receivers to it in the portal or with az monitor action-group update).",
        "az",
        "monitor",
        "action-group",
        "create",
        "--name",
        "circle-alerts",
        "--resource-group",
        rg,
        "--short-name",
        "circle",
        *email,
        "--query",
        "id",
        "--output",
        "tsv",
        capture="ACTION_GROUP_ID",
    )
    plan.add(
        "The app's Application Insights (az functionapp create made it, with the app's name).",
        "az",
        "resource",
        "show",
        "--resource-group",
        rg,
        "--name",
        app,
        "--resource-type",
        "Microsoft.Insights/components",
        "--query",
        "id",
        "--output",
        "tsv",
        capture="INSIGHTS_ID",
    )
    # ${APP_ID}: the function app's resource id, captured earlier in the plan (its Http429 metric)
    # OpenTelemetry lower-cases instrument names: ReplicationLag arrives as replicationlag
    alerts = [
        ("circle-function-errors", "${INSIGHTS_ID}", f"count requests/failed >= {_num(t['errors'])}",
         "Function invocations failed (see the function's traces in Application Insights)."),
        ("circle-replication-lag", "${INSIGHTS_ID}",
         f"max azure.applicationinsights.replicationlag >= {_num(t['replication_lag_seconds'])}",
         "Replicas trail their sources by more than the threshold (worst rule/target)."),
        ("circle-replication-failed", "${INSIGHTS_ID}",
         f"total azure.applicationinsights.replicationfailed >= {_num(t['failed_replications'])}",
         "Replications failed (permanent, configuration or retryable)."),
        ("circle-function-throttled", "${APP_ID}", f"total Http429 >= {_num(t['throttles'])}",
         "The app answered 429 Too Many Requests (scale-out limit or host concurrency reached): the "
         "throttle of Azure Functions."),
        ("circle-probe-failed", "${INSIGHTS_ID}", "max azure.applicationinsights.probefailed >= 1",
         "A health probe found a store down (its canary write/read/list/delete failed)."),
        ("circle-queue-backlog", "${HOST_ID}/queueServices/default",
         f"avg QueueMessageCount >= {_num(max(t['dlq_depth'], 1) * 100)}",
         "Messages pile up in the host account's queues (events and <queue>-poison): failing or too slow."),
    ]  # fmt: skip
    for name, scope, condition, description in alerts:
        plan.add(
            f"Metric alert {name}: {description}",
            "az",
            "monitor",
            "metrics",
            "alert",
            "create",
            "--name",
            name,
            "--resource-group",
            rg,
            "--scopes",
            scope,
            "--condition",
            condition,
            "--window-size",
            "5m",
            "--evaluation-frequency",
            "5m",
            "--action",
            "${ACTION_GROUP_ID}",
            "--description",
            description,
        )


def gcp_alerts(plan: Plan, s: Settings, config: Facts | None) -> None:
    """An e-mail notification channel (``CIRCLE_GCP_ALARM_EMAIL``) and alerting policies: function 5xx
    and 429 answers (Eventarc retries), the age of Eventarc's oldest unacked event, and, from the
    Cloud Monitoring custom metrics (``CIRCLE_CLOUD_MONITORING=true``), replication lag and failures
    and failed probes."""
    import json

    t = _thresholds(config)
    project = s("CIRCLE_GCP_PROJECT")
    p = f"--project={project}"
    channels: list[str] = []
    if s.has("CIRCLE_GCP_ALARM_EMAIL"):
        channel = ["gcloud", "beta", "monitoring", "channels"]
        script = (
            shlex.join([*channel, "list", p, '--filter=displayName="Circle Core alerts"', "--format=value(name)"])
            + " | grep . || "
            + shlex.join(
                [
                    *channel,
                    "create",
                    p,
                    "--display-name=Circle Core alerts",
                    "--type=email",
                    f"--channel-labels=email_address={s('CIRCLE_GCP_ALARM_EMAIL')}",
                    "--format=value(name)",
                ]
            )
        )
        plan.add(
            "E-mail notification channel for the alerting policies (once).", "bash", "-c", script, capture="CHANNEL"
        )
        channels = ["${CHANNEL}"]
    functions = 'resource.type = "cloud_run_revision" AND resource.labels.service_name = starts_with("circle-")'
    policies = [
        ("Circle Core: function errors", f'{functions} AND metric.type = "run.googleapis.com/request_count" '
         'AND metric.labels.response_code_class = "5xx"', "ALIGN_SUM", t["errors"]),
        ("Circle Core: function throttled", f'{functions} AND metric.type = "run.googleapis.com/request_count" '
         'AND metric.labels.response_code = "429"', "ALIGN_SUM", t["throttles"]),
        ("Circle Core: events waiting", 'resource.type = "pubsub_subscription" AND '
         'resource.labels.subscription_id = starts_with("eventarc-") AND '
         'metric.type = "pubsub.googleapis.com/subscription/oldest_unacked_message_age"', "ALIGN_MAX",
         t["queue_age_seconds"]),
        ("Circle Core: replication lag", 'resource.type = "generic_task" AND '
         'metric.type = "custom.googleapis.com/circle/ReplicationLag"', "ALIGN_PERCENTILE_99",
         t["replication_lag_seconds"]),
        ("Circle Core: replication failures", 'resource.type = "generic_task" AND '
         'metric.type = "custom.googleapis.com/circle/ReplicationFailed"', "ALIGN_SUM", t["failed_replications"]),
        ("Circle Core: probe failed", 'resource.type = "generic_task" AND '
         'metric.type = "custom.googleapis.com/circle/ProbeFailed"', "ALIGN_SUM", 1),
    ]  # fmt: skip
    for name, condition_filter, aligner, threshold in policies:
        policy = {
            "displayName": name,
            "combiner": "OR",
            "notificationChannels": channels,
            "conditions": [
                {
                    "displayName": name,
                    "conditionThreshold": {
                        "filter": condition_filter,
                        "aggregations": [
                            {"alignmentPeriod": "300s", "perSeriesAligner": aligner, "crossSeriesReducer": "REDUCE_MAX"}
                        ],
                        "comparison": "COMPARISON_GT",
                        "thresholdValue": float(threshold) - (1 if aligner == "ALIGN_SUM" else 0),
                        "duration": "0s",
                    },
                }
            ],
            "documentation": {"content": "docs/monitoring.md says what this alert means and what to do."},
        }
        # Policy names are server-assigned, so a plain create would add a copy at every rerun: create it
        # only when no policy has this display name (delete it to apply a changed threshold).
        listing = ["gcloud", "alpha", "monitoring", "policies", "list", p, f'--filter=displayName="{name}"']
        create = ["gcloud", "alpha", "monitoring", "policies", "create", p]
        script = (
            shlex.join([*listing, "--format=value(name)"])
            + " | grep -q . || "
            + shlex.join([*create, "--policy=" + json.dumps(policy, separators=(",", ":"))])
        )
        plan.add(f"Alerting policy (once): {name}.", "bash", "-c", script)


# -- jobs: scheduled probes, reconciliation and fan-out on Azure and GCP (docs/jobs.md) ---------------------
# glibc settings of the jobs functions (docs/benchmarks.md, reconciliation): two arenas, so freed upload
# buffers are reused across copies; a fixed 1 MiB mmap threshold, so every buffer of a MiB or more is
# mapped and given back to the system when freed (the default threshold rises after the first such free,
# and later buffers then stay in the heap). 10 x 100 MiB: RSS growth ~300 MiB -> ~80 -> 52-62 MiB.
JOBS_MALLOC = ("MALLOC_ARENA_MAX=2", "MALLOC_MMAP_THRESHOLD_=1048576", "MALLOC_TRIM_THRESHOLD_=1048576")


def _azure_jobs_settings(s: Settings) -> list[str]:
    """App settings the timer and jobs-queue functions bind to: the 6-field NCRONTAB schedules (from the
    5-field ``CIRCLE_RECONCILE_SCHEDULE`` / ``CIRCLE_PROBE_SCHEDULE``, the values of ``[schedules]``),
    the jobs queue and the malloc settings (``JOBS_MALLOC``)."""
    from core.schedules import ncrontab_expression

    return [
        f"CIRCLE_RECONCILE_SCHEDULE={ncrontab_expression(s('CIRCLE_RECONCILE_SCHEDULE', '0 * * * *'))}",
        f"CIRCLE_PROBE_SCHEDULE={ncrontab_expression(s('CIRCLE_PROBE_SCHEDULE', '*/5 * * * *'))}",
        f"CIRCLE_JOBS_QUEUE={s('CIRCLE_AZ_JOBS_QUEUE', 'circle-jobs')}",
        *JOBS_MALLOC,
    ]


GCP_SCHEDULED_TARGET = "scheduled"


def _plan_gcp_jobs(
    plan: Plan, s: Settings, project: str, region: str, sa: str, common: Sequence[str], functions: list[str]
) -> None:
    """A Pub/Sub topic for job requests, the ``scheduled`` function subscribed to it (fan-out publishes
    range messages to the same topic) and one Cloud Scheduler job per schedule (5-field cron,
    ``CIRCLE_RECONCILE_SCHEDULE`` / ``CIRCLE_PROBE_SCHEDULE``, the values of ``[schedules]``)."""
    p = f"--project={project}"
    topic = s("CIRCLE_GCP_JOBS_TOPIC", "circle-jobs")
    topic_path = f"projects/{project}/topics/{topic}"
    plan.add(
        "Topic for scheduled job requests and fan-out ranges.",
        "gcloud",
        "pubsub",
        "topics",
        "create",
        topic,
        p,
        ok_if_exists=True,
    )
    extra = ",".join(["", f"CIRCLE_JOBS_TOPIC={topic_path}", *JOBS_MALLOC])
    env = [a + extra if a.startswith("--set-env-vars=") else a for a in common]
    functions.append("circle-scheduled")
    plan.add(
        "Pub/Sub job requests -> scheduled (probe, reconciliation, fan-out ranges).",
        "gcloud",
        "functions",
        "deploy",
        "circle-scheduled",
        f"--entry-point={GCP_SCHEDULED_TARGET}",
        f"--trigger-topic={topic}",
        *env,
    )
    plan.add(
        "Let the function publish fan-out ranges (and unfinished ranges) to the jobs topic.",
        "gcloud",
        "pubsub",
        "topics",
        "add-iam-policy-binding",
        topic,
        p,
        f"--member=serviceAccount:{sa}",
        "--role=roles/pubsub.publisher",
    )
    for job, default in (("reconcile", "0 * * * *"), ("probe", "*/5 * * * *")):
        schedule = s(f"CIRCLE_{job.upper()}_SCHEDULE", default)
        if not schedule:
            continue
        plan.add(
            f"Cloud Scheduler: {job} on '{schedule}' (publishes the job request to the topic).",
            "gcloud",
            "scheduler",
            "jobs",
            "create",
            "pubsub",
            f"circle-{job}",
            p,
            f"--location={region}",
            f"--schedule={schedule}",
            f"--topic={topic}",
            f'--message-body={{"job": "{job}"}}',
            ok_if_exists=True,
        )


PLANNERS: dict[str, Callable[[Settings, Facts | None], Plan]] = {
    "aws": plan_aws,
    "azure": plan_azure,
    "gcp": plan_gcp,
}


def execute(plan: Plan, *, dist: Path = ROOT / "dist") -> None:
    """Run the plan's steps in order; refuse before the first step if anything is missing."""
    if missing_tools := [t for t in plan.tools if shutil.which(t) is None]:
        raise DeployError(
            f"{', '.join(missing_tools)} not found on PATH: install it, or run without "
            "--execute and follow the printed commands"
        )
    if placeholders := plan.placeholders():
        raise DeployError(f"set {', '.join(placeholders)} (see docs/deploy.md)")
    if not (dist / plan.cloud).is_dir():
        raise DeployError(f"dist/{plan.cloud} does not exist: run `make bundle` first")
    values: dict[str, str] = {}
    for step in plan.steps:
        argv = [_VAR.sub(lambda m: values[m.group(1)], a) for a in step.argv]
        print(f"# {step.purpose}\n{step.render()}", flush=True)
        proc = subprocess.run(
            argv,
            cwd=dist.parent / (step.cwd or ""),  # step.cwd is relative to the repository root, dist's parent
            text=True,
            check=False,
            stdout=subprocess.PIPE if step.capture else None,
            stderr=subprocess.PIPE if step.ok_if_exists else None,
        )
        if proc.returncode != 0:
            if step.ok_if_exists and "already exist" in (proc.stderr or "").lower():
                if step.verify is not None:
                    _verify_existing(step, values, dist.parent)
                continue
            raise DeployError(f"step failed ({proc.returncode}): {step.purpose}\n{proc.stderr or ''}".rstrip())
        if step.capture:
            values[step.capture] = (proc.stdout or "").strip()


def _verify_existing(step: Step, values: Mapping[str, str], cwd: Path) -> None:
    """The resource a create met already exists: refuse unless it is the one the step would have made."""
    import json

    assert step.verify is not None
    command, expected = step.verify
    argv = [_VAR.sub(lambda m: values[m.group(1)], a) for a in command]
    proc = subprocess.run(argv, cwd=cwd, text=True, check=False, capture_output=True)
    try:
        found = json.loads(proc.stdout) if proc.returncode == 0 else None
    except ValueError:
        found = None
    if found != expected:
        shown = _json(found) if proc.returncode == 0 else f"an error ({proc.stderr.strip() or proc.returncode})"
        raise DeployError(
            f"step failed: {step.purpose}\nit already exists, but `{shlex.join(argv)}` gives {shown}, not "
            f"{_json(expected)}: delete it or choose another name"
        )


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.deploy", description=__doc__.splitlines()[0])
    parser.add_argument("cloud", choices=sorted(PLANNERS))
    parser.add_argument(
        "--config",
        type=Path,
        help="the configuration the bundle ships (default: circle.toml at the repository root, if present); "
        "its stores and secret references decide the grants",
    )
    parser.add_argument("--execute", action="store_true", help="run the commands (default: print them)")
    parser.add_argument(
        "--azure-publish",
        choices=["func", "zip"],
        default="func",
        help="publish with Core Tools (func) or an az zip deploy",
    )
    args = parser.parse_args(argv)
    settings = Settings(os.environ if env is None else env)
    config: Path | None = args.config or (ROOT / "circle.toml" if (ROOT / "circle.toml").is_file() else None)
    try:
        known = facts(config, settings.env.get("CIRCLE_ENV") or None) if config else None
    except (OSError, ValueError) as exc:  # tomllib.TOMLDecodeError is a ValueError
        print(f"deploy: {config}: cannot read the configuration: {exc}", file=sys.stderr)
        return 2
    if known and known.kms_unresolved and args.cloud == "aws":
        print(
            f"deploy: store(s) {', '.join(known.kms_unresolved)}: sse_kms_key_id is not a key ARN, so no "
            "kms:Decrypt/kms:GenerateDataKey grant is made for it; add the key's ARN to CIRCLE_AWS_KMS_KEY_ARNS",
            file=sys.stderr,
        )
    if args.cloud == "azure":
        plan = plan_azure(settings, known, publish=args.azure_publish)
    else:
        plan = PLANNERS[args.cloud](settings, known)
    if not args.execute:
        print(plan.render(), end="")
        return 0
    try:
        execute(plan)
    except DeployError as exc:
        print(f"deploy: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
