"""``circle invoke aws|azure|gcp`` with the shared sample payloads (tests/events/data) against the
emulators: the sample's bucket and key are created in the emulated cloud, the real adapter entry point
runs, and the replica appears in the configured targets. ``circle events show`` on the same samples."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from core.storage import open_store
from tests.cli.conftest import EVENTS, circle, run_script, write_config


def _config(tmp_path: Path, source: str, extra: str = "", target: str | None = None) -> Path:
    target_url = target or f"file://{tmp_path}/replica"
    return write_config(
        tmp_path / "circle.toml",
        f"""
[stores.source]
{source}
{extra}
[stores.replica]
url = "{target_url}"

[[replication]]
source = "source"
targets = ["replica"]
""",
    )


@pytest.fixture
def env(emulator_env: dict[str, str], emulators: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.delenv("CIRCLE_ENV", raising=False)
    monkeypatch.setenv("CIRCLE_CONFIG", "unset-by-the-test")  # invoke sets it; restored afterwards
    return emulators


def test_invoke_aws_direct_s3_notification(env: Any, tmp_path: Path) -> None:
    env.create_bucket("s3", "mybucket")
    open_store("s3://mybucket").put("HappyFace.jpg", b"a happy face", content_type="image/jpeg")
    config = _config(tmp_path, 'url = "s3://mybucket"')
    run = circle("--config", str(config), "--json", "invoke", "aws", str(EVENTS / "awsdocs_s3_ObjectCreatedPut.json"))
    assert run.code == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["status"] == "ok" and result["cloud"] == "aws"
    assert open_store(f"file://{tmp_path}/replica").get("HappyFace.jpg").read() == b"a happy face"


def test_invoke_aws_sqs_batch_answers_batch_item_failures(env: Any, tmp_path: Path) -> None:
    env.create_bucket("s3", "xxx")
    open_store("s3://xxx").put("test.pdf", b"%PDF-1.4 sample")
    config = _config(tmp_path, 'url = "s3://xxx"', target=f"gs://cli-invoke-{tmp_path.name[-8:].lower()}")
    env.create_bucket("gs", f"cli-invoke-{tmp_path.name[-8:].lower()}")
    run = circle("--config", str(config), "--json", "invoke", "aws", str(EVENTS / "powertools_s3SqsEvent.json"))
    assert run.code == 0, run.stderr
    assert json.loads(run.stdout)["answer"] == {"batchItemFailures": []}
    assert open_store(f"gs://cli-invoke-{tmp_path.name[-8:].lower()}").get("test.pdf").read() == b"%PDF-1.4 sample"


def test_invoke_aws_reports_retry_and_exits_1_when_a_target_is_down(env: Any, tmp_path: Path) -> None:
    from scripts.emulators import free_port

    env.create_bucket("s3", "mybucket")
    open_store("s3://mybucket").put("HappyFace.jpg", b"face")
    config = write_config(
        tmp_path / "circle.toml",
        f"""
[stores.source]
url = "s3://mybucket"
[stores.down]
url = "s3://unreachable"
endpoint_url = "http://127.0.0.1:{free_port()}"
retry = {{max_attempts = 1}}
[[replication]]
source = "source"
targets = ["down"]
""",
    )
    run = circle("--config", str(config), "invoke", "aws", str(EVENTS / "awsdocs_s3_ObjectCreatedPut.json"))
    assert run.code == 1
    assert run.stdout.startswith("aws: retry (")


def test_invoke_gcp_binary_cloudevent_through_functions_framework(env: Any, tmp_path: Path) -> None:
    env.create_bucket("gs", "sample-bucket")
    open_store("gs://sample-bucket").put("folder/Test.cs", b"class Test {}")
    config = _config(tmp_path, 'url = "gs://sample-bucket"')
    sample = EVENTS / "cloudevents_binary_storage_StorageObjectData-simple.json"
    run = circle("--config", str(config), "--json", "invoke", "gcp", str(sample))
    assert run.code == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["answer"]["status"] == 200
    headers = result["answer"]["headers"]
    assert headers["ce-type"] == "google.cloud.storage.object.v1.finalized"
    assert headers["ce-source"] == "//storage.googleapis.com/projects/_/buckets/sample-bucket"
    assert open_store(f"file://{tmp_path}/replica").get("folder/Test.cs").read() == b"class Test {}"


def test_invoke_gcp_structured_sample_is_sent_in_binary_mode(env: Any, tmp_path: Path) -> None:
    sample = json.loads((EVENTS / "cloudevents_binary_storage_StorageObjectData-simple.json").read_text())
    structured = {
        "specversion": "1.0",
        "id": "1",
        "type": "google.cloud.storage.object.v1.deleted",
        "source": "//storage.googleapis.com/projects/_/buckets/sample-bucket",
        "subject": "objects/folder/Test.cs",
        "time": "2020-04-23T07:38:57.230Z",
        "data": sample,
    }
    path = tmp_path / "structured.json"
    path.write_text(json.dumps(structured))
    config = _config(tmp_path, 'url = "gs://sample-bucket"')
    env.create_bucket("gs", "sample-bucket")
    run = circle("--config", str(config), "--json", "invoke", "gcp", str(path))
    assert run.code == 0, run.stderr
    assert json.loads(run.stdout)["answer"]["headers"]["ce-type"].endswith(".deleted")


@pytest.mark.parametrize("trigger", ["queue", "event-grid"])
def test_invoke_azure_with_the_event_grid_sample(env: Any, tmp_path: Path, trigger: str) -> None:
    env.create_bucket("az", "test-container")
    azurite = f'connection_string = "{env.azure_connection_string}"\naccount = "my-storage-account"'
    open_store("az://test-container", connection_string=env.azure_connection_string).put("new-file.txt", b"blob!")
    config = _config(tmp_path, 'url = "az://test-container"', extra=azurite)
    sample = EVENTS / "msdocs_eventgridschema_BlobCreated.json"
    run = circle("--config", str(config), "--json", "invoke", "azure", "--trigger", trigger, str(sample))
    assert run.code == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["answer"] == [{"id": "831e1650-001e-001b-66ab-eeb76e069631", "status": "ok"}]
    assert open_store(f"file://{tmp_path}/replica").get("new-file.txt").read() == b"blob!"


def test_invoke_azure_cloudevents_schema_needs_the_queue_trigger(env: Any, tmp_path: Path) -> None:
    config = _config(tmp_path, 'url = "az://test-container"')
    sample = EVENTS / "msdocs_cloudevents_BlobCreated.json"
    run = circle("--config", str(config), "invoke", "azure", "--trigger", "event-grid", str(sample))
    assert run.code == 2 and "Event Grid-schema" in run.stderr


def test_invoke_usage_errors(env: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CIRCLE_CONFIG")
    monkeypatch.chdir(tmp_path)
    no_config = circle("invoke", "aws", str(EVENTS / "awsdocs_s3_ObjectCreatedPut.json"))
    assert no_config.code == 2 and "needs a configuration" in no_config.stderr
    config = _config(tmp_path, 'url = "s3://mybucket"')
    missing = circle("--config", str(config), "invoke", "aws", "nope.json")
    assert missing.code == 2 and missing.err_lines == ["circle: error: nope.json: No such file or directory"]
    wrong = circle("--config", str(config), "invoke", "gcp", str(EVENTS / "awsdocs_s3_ObjectCreatedPut.json"))
    assert wrong.code == 2 and "CloudEvent" in wrong.stderr
    bad_cloud = circle("--config", str(config), "invoke", "ibm", "x.json")
    assert bad_cloud.code == 2


def test_invoke_as_a_real_console_script(env: Any, tmp_path: Path) -> None:
    env.create_bucket("gs", "sample-bucket")
    open_store("gs://sample-bucket").put("folder/Test.cs", b"subprocess")
    config = _config(tmp_path, 'url = "gs://sample-bucket"')
    sample = EVENTS / "cloudevents_binary_storage_StorageObjectData-simple.json"
    proc = run_script(tmp_path, ["--config", str(config), "invoke", "gcp", str(sample)], env=env.env())
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("gcp: ok")
    assert '"severity": "INFO"' in proc.stderr  # Cloud Logging JSON lines go to stderr, not stdout
    assert open_store(f"file://{tmp_path}/replica").get("folder/Test.cs").read() == b"subprocess"


# -- events show ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("sample", "expected"),
    [
        ("powertools_s3SqsEvent.json", ("aws", "created", "xxx", "test.pdf", "sqs/s3")),
        (
            "msdocs_eventgridschema_BlobCreated.json",
            ("azure", "created", "test-container", "new-file.txt", "eventgrid"),
        ),
        (
            "cloudevents_binary_storage_StorageObjectData-simple.json",
            ("gcp", "created", "sample-bucket", "folder/Test.cs", "cloudevent"),
        ),
    ],
)
def test_events_show_prints_the_normalised_events(sample: str, expected: tuple[str, ...]) -> None:
    run = circle("--json", "events", "show", str(EVENTS / sample))
    assert run.code == 0, run.stderr
    [event] = json.loads(run.stdout)
    assert (event["provider"], event["kind"], event["bucket"], event["key"], event["envelope"]) == expected
    table = circle("events", "show", str(EVENTS / sample))
    assert table.stdout.splitlines()[1].split()[:4] == list(expected[:4])


def test_events_show_a_gcs_delete_and_errors() -> None:
    sample = str(EVENTS / "cloudevents_binary_storage_StorageObjectData-simple.json")
    [event] = json.loads(circle("--json", "events", "show", sample, "--type", "deleted").stdout)
    assert event["kind"] == "deleted"
    bad = circle("events", "show", str(EVENTS / "samcli_Sqs.template.json"))
    assert bad.code == 1 and len(bad.err_lines) == 1 and "not a storage notification" in bad.stderr
    test_event = circle("events", "show", str(EVENTS / "awsdocs_s3_TestEvent.json"))
    assert test_event.code == 0 and "no storage events" in test_event.stdout


def test_invoke_aws_as_a_real_console_script_keeps_powertools_lines_off_stdout(env: Any, tmp_path: Path) -> None:
    env.create_bucket("s3", "mybucket")
    open_store("s3://mybucket").put("HappyFace.jpg", b"from a subprocess")
    config = _config(tmp_path, 'url = "s3://mybucket"')
    sample = EVENTS / "awsdocs_s3_ObjectCreatedPut.json"
    proc = run_script(tmp_path, ["--config", str(config), "--json", "invoke", "aws", str(sample)], env=env.env())
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["status"] == "ok"  # stdout is the result alone
    assert '"cold_start":true' in proc.stderr.replace(" ", "")  # Powertools' invocation keys, on stderr
    assert open_store(f"file://{tmp_path}/replica").get("HappyFace.jpg").read() == b"from a subprocess"
