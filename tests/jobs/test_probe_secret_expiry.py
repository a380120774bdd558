"""The probe's days until a secret expires, where the secrets service knows it: Key Vault's ``expires``
of the current version and Secret Manager's ``expire_time`` (the real SDK clients against the local
fakes), Secrets Manager's next rotation date (moto); ``SecretDaysToExpiry`` is the gauge; a secret
without an expiry stays "unknown" and has no gauge."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from azure.keyvault.secrets import SecretClient

from core.handlers.probe import probe
from core.monitoring import MonitoringSettings, Recorder, Series
from core.secrets import SecretStore, open_secrets, register_secret_store, unregister_secret_store
from tests.fakes.key_vault import FakeKeyVault
from tests.fakes.secret_manager import FakeSecretManager
from tests.rotation.conftest import AwsRig, aws  # noqa: F401 - fixture: moto Secrets Manager with a rotation stub
from tests.secrets.conftest import StaticTokenCredential


class _Sink:
    def __init__(self) -> None:
        self.series: list[Series] = []

    def write(self, series: list[Series], timestamp: float) -> None:
        self.series.extend(series)


def _probe(alias: str, names: list[str]) -> tuple[dict[str, Any], dict[str, float]]:
    """Probe ``secret://<alias>/<name>`` for each name (no stores); the report's secrets and the gauges."""
    sink = _Sink()
    refs = [f"secret://{alias}/{n}" for n in names]
    config = SimpleNamespace(stores={}, schedules=None, secret_references=lambda: refs)
    circle = SimpleNamespace(config=config, monitor=Recorder(MonitoringSettings(), sink))
    report = probe(circle, stores=[])
    circle.monitor.flush()
    gauges = {s.dimensions["secret"]: s.values[0] for s in sink.series if s.name == "SecretDaysToExpiry"}
    assert all(s.kind == "gauge" and s.unit == "None" for s in sink.series if s.name == "SecretDaysToExpiry")
    return {s.reference: s for s in report.secrets}, gauges


@pytest.fixture(scope="module")
def fake_vault(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeKeyVault]:
    vault = FakeKeyVault(tmp_path_factory.mktemp("probe-kv-tls"))
    try:
        yield vault
    finally:
        vault.stop()


@pytest.fixture
def vault(fake_vault: FakeKeyVault) -> Iterator[SecretStore]:
    client = SecretClient(
        fake_vault.url,
        StaticTokenCredential(fake_vault.token),
        verify_challenge_resource=False,
        connection_verify=str(fake_vault.ca_file),
    )
    store = open_secrets("keyvault://localhost", client=client, max_age=0)
    register_secret_store("kv", store)
    try:
        yield store
    finally:
        unregister_secret_store("kv")
        store.close()


def test_key_vault_expiry_of_the_current_version(vault: SecretStore) -> None:
    expiring, forever = f"db-{uuid.uuid4().hex[:8]}", f"key-{uuid.uuid4().hex[:8]}"
    vault.put(expiring, "old", expires_on=datetime.now(UTC) + timedelta(days=3))
    expires_on = datetime.now(UTC) + timedelta(days=12, hours=1)
    vault.put(expiring, "new", expires_on=expires_on)  # current wins
    vault.put(forever, "no expiry")
    secrets, gauges = _probe("kv", [expiring, forever])
    known = secrets[f"secret://kv/{expiring}"]
    assert known.readable and known.expiry_known and known.days_left == 12
    assert known.as_dict()["expiry"] == "known" and known.expires is not None
    assert gauges == {f"secret://kv/{expiring}": 12.0}  # nothing for the secret that never expires
    assert secrets[f"secret://kv/{forever}"].as_dict()["expiry"] == "unknown"
    [current] = [v for v in vault.versions(expiring) if "current" in v.stages]
    assert current.extra["expires"].startswith(expires_on.date().isoformat())  # (not now + 12 days: near midnight)


@pytest.fixture
def project() -> Iterator[SecretStore]:
    from google.auth.credentials import AnonymousCredentials

    fake = FakeSecretManager()
    store = open_secrets("gcp-sm://p", api_endpoint=fake.url, credentials=AnonymousCredentials(), max_age=0)
    register_secret_store("sm", store)
    try:
        yield store
    finally:
        unregister_secret_store("sm")
        store.close()
        fake.stop()


def test_secret_manager_expire_time(project: SecretStore) -> None:
    from google.protobuf import field_mask_pb2, timestamp_pb2

    expiring, forever = f"db-{uuid.uuid4().hex[:8]}", f"key-{uuid.uuid4().hex[:8]}"
    project.put(expiring, "v")
    project.put(forever, "v")
    when = timestamp_pb2.Timestamp()
    when.FromDatetime(datetime.now(UTC) + timedelta(days=30, hours=1))
    client = project.backend._client  # type: ignore[attr-defined]  # the real SDK client the store uses
    client.update_secret(
        secret={"name": f"projects/p/secrets/{expiring}", "expire_time": when},
        update_mask=field_mask_pb2.FieldMask(paths=["expire_time"]),
    )
    secrets, gauges = _probe("sm", [expiring, forever])
    assert secrets[f"secret://sm/{expiring}"].days_left == 30
    assert gauges == {f"secret://sm/{expiring}": 30.0}
    assert secrets[f"secret://sm/{forever}"].expiry_known is False


def test_secrets_manager_next_rotation_date(aws: AwsRig) -> None:  # noqa: F811
    rotating, rotating_arn = aws.new_secret({"kind": "none"})
    plain, _ = aws.new_secret({"kind": "none"})
    aws.start_rotation(rotating_arn)  # RotateSecret with AutomaticallyAfterDays = 30: moto sets NextRotationDate
    assert aws.sm.describe_secret(SecretId=rotating_arn)["NextRotationDate"]
    store = open_secrets("aws-sm://", client=aws.sm, max_age=0)
    register_secret_store("asm", store)
    try:
        secrets, gauges = _probe("asm", [rotating, plain])
    finally:
        unregister_secret_store("asm")
    # 30 days from the rotation, a few moments ago: 29 whole days left
    assert secrets[f"secret://asm/{rotating}"].days_left == 29
    assert gauges == {f"secret://asm/{rotating}": 29.0}
    assert secrets[f"secret://asm/{plain}"].as_dict()["expiry"] == "unknown"
