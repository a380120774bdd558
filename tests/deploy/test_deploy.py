"""scripts/deploy.py: the printed commands carry the flags the design depends on, form a valid shell
script, and --execute refuses to start without the CLI, the settings or the bundle."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from scripts import deploy
from tests.deploy.cfn_eval import load

ROOT = Path(__file__).resolve().parents[2]
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


def _plan(cloud: str, env: dict[str, str]) -> deploy.Plan:
    if cloud == "gcp":
        return deploy.plan_gcp(deploy.Settings(env), now=datetime(2030, 1, 1, tzinfo=UTC))
    return deploy.PLANNERS[cloud](deploy.Settings(env))


def _steps(plan: deploy.Plan, *prefix: str) -> list[tuple[str, ...]]:
    return [s.argv for s in plan.steps if s.argv[: len(prefix)] == prefix]


@pytest.mark.parametrize(
    ("cloud", "env"), [("aws", AWS_ENV), ("aws", {}), ("azure", AZ_ENV), ("azure", {}), ("gcp", GCP_ENV), ("gcp", {})]
)
def test_printed_plan_is_a_valid_shell_script_using_only_captured_variables(cloud: str, env: dict[str, str]) -> None:
    plan = _plan(cloud, env)
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


def test_gcp_deploys_gen2_eventarc_functions_with_retry() -> None:
    plan = _plan("gcp", GCP_ENV)
    deploys = {argv[3]: argv for argv in _steps(plan, "gcloud", "functions", "deploy")}
    assert set(deploys) == {"circle-storage-finalized", "circle-storage-deleted", "circle-secret-rotation"}
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
        assert "--set-env-vars=CIRCLE_CONFIG=/workspace/circle.toml,CIRCLE_ENV=prod" in argv
    (update,) = _steps(plan, "gcloud", "secrets", "update")
    assert "--add-topics=projects/proj-1/topics/circle-secret-rotation" in update
    assert "--next-rotation-time=2030-01-02T00:00:00Z" in update
    assert "--rotation-period=2592000s" in update
    publisher = [a for a in _steps(plan, "gcloud", "pubsub", "topics", "add-iam-policy-binding")]
    assert (
        "--member=serviceAccount:service-${PROJECT_NUMBER}@gcp-sa-secretmanager.iam.gserviceaccount.com" in publisher[0]
    )


def test_azure_event_grid_subscriptions_target_the_functions_with_retry_and_dead_letters() -> None:
    plan = _plan("azure", {**AZ_ENV, "CIRCLE_AZ_SOURCE_CONTAINER": "incoming"})
    subs = {
        argv[argv.index("--name") + 1]: list(argv)
        for argv in _steps(plan, "az", "eventgrid", "event-subscription", "create")
    }
    blob, vault = subs["circle-blob-events"], subs["circle-secret-near-expiry"]

    def values(argv: list[str], flag: str) -> list[str]:
        start = argv.index(flag) + 1
        end = next((i for i in range(start, len(argv)) if argv[i].startswith("--")), len(argv))
        return argv[start:end]

    assert values(blob, "--endpoint-type") == ["azurefunction"]
    assert values(blob, "--endpoint") == [f"${{APP_ID}}/functions/{deploy.AZURE_BLOB_FUNCTION}"]
    assert values(blob, "--included-event-types") == ["Microsoft.Storage.BlobCreated", "Microsoft.Storage.BlobDeleted"]
    assert values(blob, "--advanced-filter")[:2] == ["data.api", "StringIn"]
    assert {"PutBlob", "PutBlockList", "CopyBlob", "DeleteBlob"} <= set(values(blob, "--advanced-filter"))
    assert values(blob, "--subject-begins-with") == ["/blobServices/default/containers/incoming/"]
    assert values(vault, "--endpoint") == [f"${{APP_ID}}/functions/{deploy.AZURE_KEYVAULT_FUNCTION}"]
    assert values(vault, "--included-event-types") == ["Microsoft.KeyVault.SecretNearExpiry"]
    for argv in (blob, vault):
        assert values(argv, "--event-delivery-schema") == ["eventgridschema"]
        assert values(argv, "--max-delivery-attempts") == ["30"]
        assert values(argv, "--event-ttl") == ["1440"]
        assert values(argv, "--deadletter-endpoint") == [
            "${HOST_ID}/blobServices/default/containers/eventgrid-deadletter"
        ]
    (publish,) = [s for s in plan.steps if s.argv[:3] == ("func", "azure", "functionapp")]
    assert publish.cwd == "dist/azure"
    zip_plan = deploy.plan_azure(deploy.Settings(AZ_ENV), publish="zip")
    assert zip_plan.tools == ("az",)
    assert _steps(zip_plan, "az", "functionapp", "deployment", "source", "config-zip")


def test_aws_overrides_name_template_parameters() -> None:
    template = load(ROOT / "template.yaml")
    (sam_deploy,) = _steps(_plan("aws", AWS_ENV), "sam", "deploy")
    assert "--guided" not in sam_deploy
    start = sam_deploy.index("--parameter-overrides") + 1
    overrides = dict(o.split("=", 1) for o in sam_deploy[start:] if "=" in o and not o.startswith("--"))
    assert set(overrides) <= set(template["Parameters"])
    assert overrides["TargetBucketNames"] == "t1,t2"
    assert overrides["RotationScheduleExpression"] == "rate(7 days)"
    (guided,) = _steps(_plan("aws", {}), "sam", "deploy")
    assert "--guided" in guided


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
