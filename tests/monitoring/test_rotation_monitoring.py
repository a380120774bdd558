"""Rotation steps go through the monitoring hook: the rotation functions print ``RotationStep`` in
their platform's document, and a failed step alerts the webhooks once per failure window.

AWS: the real Lambda rotation entry point on moto's Secrets Manager, its monitor built from the
``[monitoring]`` table of CIRCLE_CONFIG (webhook to a loopback receiver that verifies signatures).
GCP: the functions-framework target on the Secret Manager fake (real SDK client over HTTP)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.monitoring import MonitoringSettings, Recorder, Series
from core.secrets import SecretsInvalidArgument, SecretStore
from core.secrets.rotation.errors import RotationRefused
from tests.monitoring.emf_spec import check_emf, emf_documents, metric_values
from tests.monitoring.test_webhooks import Receiver, hmac_secret, receiver  # noqa: F401 - fixtures
from tests.rotation.conftest import AwsRig, LambdaContext, aws, step_event  # noqa: F401 - fixture
from tests.rotation.test_triggers import fake_sm, project_store, pubsub_event  # noqa: F401 - fixtures


@pytest.fixture(autouse=True)
def _fresh_monitors() -> Iterator[None]:
    from aws_lambda import rotation as aws_rotation
    from gcp_functions import rotation as gcp_rotation

    aws_rotation.reset_monitor()
    gcp_rotation.reset_monitor()
    yield
    aws_rotation.reset_monitor()
    gcp_rotation.reset_monitor()


def test_a_failed_lambda_rotation_step_prints_the_metric_and_alerts_once(
    aws: AwsRig,  # noqa: F811
    receiver: Receiver,  # noqa: F811
    hmac_secret: str,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from aws_lambda.rotation import rotation

    config = tmp_path / "circle.toml"
    config.write_text(
        f'[monitoring]\n[[monitoring.webhooks]]\nurl = "{receiver.url}"\nsecret = "{hmac_secret}"\n'
        'kinds = ["rotation"]\n'
    )
    monkeypatch.setenv("CIRCLE_CONFIG", str(config))
    user = aws.new_user()
    _, arn = aws.new_secret({"kind": "aws_iam_access_key", "user_name": user})
    token = str(uuid.uuid4())  # a pending version on a secret whose rotation is not enabled: refused
    aws.sm.put_secret_value(SecretId=arn, ClientRequestToken=token, SecretString="{}", VersionStages=["AWSPENDING"])
    capsys.readouterr()

    for _ in range(2):  # Secrets Manager retries the failed step: one alert per window, not two
        with pytest.raises(RotationRefused, match="not enabled"):
            rotation(step_event("createSecret", arn, token), LambdaContext())
        docs = emf_documents(capsys.readouterr().out)
        for doc in docs:
            check_emf(doc)
        assert metric_values(docs, "RotationStep", step="create", outcome="failed") == [1.0]
        assert len(metric_values(docs, "RotationStepDuration", step="create")) == 1

    [alert] = receiver.received
    body = alert["body"]
    assert (body["kind"], body["key"], body["fields"]["step"]) == ("rotation", arn, "create")
    assert body["fields"]["error"].startswith("RotationRefused: rotation is not enabled")
    assert receiver.rejected == 0


def test_a_successful_lambda_rotation_step_counts_ok_and_alerts_nothing(
    aws: AwsRig,  # noqa: F811
    receiver: Receiver,  # noqa: F811
    hmac_secret: str,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from aws_lambda.rotation import rotation

    config = tmp_path / "circle.toml"
    config.write_text(f'[monitoring]\n[[monitoring.webhooks]]\nurl = "{receiver.url}"\nsecret = "{hmac_secret}"\n')
    monkeypatch.setenv("CIRCLE_CONFIG", str(config))
    user = aws.new_user()
    _, arn = aws.new_secret({"kind": "aws_iam_access_key", "user_name": user})
    token = aws.start_rotation(arn)
    capsys.readouterr()
    rotation(step_event("createSecret", arn, token), LambdaContext())
    docs = emf_documents(capsys.readouterr().out)
    assert metric_values(docs, "RotationStep", step="create", outcome="ok") == [1.0]
    assert metric_values(docs, "RotationStep", outcome="failed") == []
    assert receiver.received == []


class _Series:
    def __init__(self) -> None:
        self.written: list[Series] = []

    def write(self, series: list[Series], timestamp: float) -> None:
        self.written.extend(series)


def test_a_failed_secret_manager_rotation_is_recorded_and_flushed_by_the_function(
    project_store: SecretStore,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from gcp_functions import rotation as gcp_rotation

    alerts: list[tuple[str, str]] = []
    sink = _Series()
    monitor = Recorder(MonitoringSettings(), sink)

    def alert(kind: str, key: str, message: str, fields: dict[str, Any]) -> bool:
        alerts.append((kind, key))
        return True

    monitor.alerter.alert = alert  # type: ignore[method-assign]
    monkeypatch.setattr(gcp_rotation.monitor, "_monitor", monitor)
    name = f"untyped-{uuid.uuid4().hex[:8]}"
    project_store.put(name, {"no": "kind"})  # no [[rotation]] entry and no kind: cannot rotate

    with pytest.raises(SecretsInvalidArgument, match="which rotator"):
        gcp_rotation.secret_rotation(pubsub_event(name))

    steps = {(s.name, s.dimensions.get("outcome")): s.values for s in sink.written if s.name.startswith("Rotation")}
    assert steps[("RotationStep", "failed")] == [1.0]
    assert alerts == [("rotation", f"gcp-sm://p/{name}")]
    sink.written.clear()
    gcp_rotation.secret_rotation(pubsub_event(name, "TOPIC_CONFIGURED"))  # ignored: no step, nothing recorded
    assert [s for s in sink.written if s.name.startswith("Rotation")] == []
