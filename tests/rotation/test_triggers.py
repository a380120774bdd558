"""Azure and GCP native triggers end to end: the real SDK clients (azure-keyvault-secrets over HTTPS,
google-cloud-secret-manager over REST) against the local fakes, with events built from the samples."""

from __future__ import annotations

import base64
import copy
import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest
from azure.keyvault.secrets import SecretClient
from cloudevents.http import CloudEvent

from azure_functions import rotation as az
from core.handlers.rotation import parse_key_vault_event
from core.secrets import SecretStore, open_secrets
from gcp_functions import rotation as gcp
from tests.fakes.key_vault import FakeKeyVault
from tests.fakes.secret_manager import FakeSecretManager
from tests.rotation.conftest import sample
from tests.secrets.conftest import StaticTokenCredential


# -- Azure Key Vault -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fake_vault(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeKeyVault]:
    vault = FakeKeyVault(tmp_path_factory.mktemp("rot-kv-tls"))
    try:
        yield vault
    finally:
        vault.stop()


@pytest.fixture
def vault(fake_vault: FakeKeyVault) -> Iterator[tuple[SecretStore, SecretClient]]:
    client = SecretClient(
        fake_vault.url,
        StaticTokenCredential(fake_vault.token),
        verify_challenge_resource=False,
        connection_verify=str(fake_vault.ca_file),
    )
    store = open_secrets("keyvault://localhost", client=client, max_age=0)
    opened: list[str] = []

    def opener(name: str) -> SecretStore:
        opened.append(name)
        return store

    az.use_vaults(opener)
    try:
        yield store, client
    finally:
        az.use_vaults(None)
        store.close()


def near_expiry_event(secret: str, event_id: str | None = None) -> func.EventGridEvent:
    raw = sample("keyvault-SecretNearExpiry.eventgrid-schema.secondary.json")
    data = dict(raw["data"], ObjectName=secret)
    return func.EventGridEvent(
        id=event_id or raw["id"],
        data=data,
        topic=raw["topic"],
        subject=f"secrets/{secret}",
        event_type=raw["eventType"],
        event_time=None,
        data_version=raw["dataVersion"],
    )


def test_near_expiry_rotates_and_sets_a_new_expiry(vault: tuple[SecretStore, SecretClient]) -> None:
    store, client = vault
    name = f"api-key-{uuid.uuid4().hex[:8]}"
    store.put(name, {"kind": "hmac_api_key", "key_id": "seed", "key": "c2VlZA"})
    before = store.get_stage(name, "current")

    result = az.handle_near_expiry(near_expiry_event(name, str(uuid.uuid4())))

    assert result is not None and result["outcome"] == "finished"
    assert store.get_stage(name, "current") == result["version"] != before
    assert store.get_stage(name, "previous") == before
    assert len(json.loads(store.get(name))["key"]) >= 43
    expires = client.get_secret(name, result["version"]).properties.expires_on
    assert expires is not None
    assert abs(expires - (datetime.now(UTC) + timedelta(days=90))) < timedelta(minutes=5)


def test_redelivered_event_does_not_rotate_twice(vault: tuple[SecretStore, SecretClient]) -> None:
    store, _ = vault
    name = f"api-key-{uuid.uuid4().hex[:8]}"
    store.put(name, {"kind": "hmac_api_key"})
    event = near_expiry_event(name, str(uuid.uuid4()))
    first = az.handle_near_expiry(event)
    count = len(store.versions(name))
    again = az.handle_near_expiry(event)
    assert first is not None and again is not None and again["version"] == first["version"]
    assert len(store.versions(name)) == count


def test_other_key_vault_events_are_ignored_and_samples_parse_defensively(
    vault: tuple[SecretStore, SecretClient],
) -> None:
    store, _ = vault
    name = f"api-key-{uuid.uuid4().hex[:8]}"
    store.put(name, {"kind": "hmac_api_key"})
    raw = sample("keyvault-SecretNewVersionCreated.eventgrid-schema.json")[0]  # "ObjectName " + string NBF/EXP
    assert parse_key_vault_event(raw) == (
        "Microsoft.KeyVault.SecretNewVersionCreated",
        "sample-kv",
        "newsecret",
        raw["id"],
    )
    event = func.EventGridEvent(
        id=raw["id"],
        data=dict(raw["data"], **{"ObjectName ": name}),
        topic=raw["topic"],
        subject=name,
        event_type=raw["eventType"],
        event_time=None,
        data_version=raw["dataVersion"],
    )
    versions = len(store.versions(name))
    assert az.handle_near_expiry(event) is None
    assert len(store.versions(name)) == versions


def force_request(name: str, vault: str | None = "myvault", method: str = "POST") -> func.HttpRequest:
    params = {"vault": vault} if vault else {}
    return func.HttpRequest(method, f"/api/rotate/{name}", params=params, route_params={"name": name}, body=b"")


@pytest.fixture
def opened(vault: tuple[SecretStore, SecretClient]) -> Iterator[list[str]]:
    """The vault names the trigger opened (a refused request must open none)."""
    store, _ = vault
    names: list[str] = []

    def opener(name: str) -> SecretStore:
        names.append(name)
        return store

    az.use_vaults(opener)
    yield names


def rotation_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *entries: tuple[str, str]) -> None:
    """A circle.toml whose [[rotation]] entries name (secrets URL, secret)."""
    text = "".join(
        f'[[rotation]]\nsecrets = "{url}"\nsecret = "{secret}"\nrotator = "hmac_api_key"\n\n' for url, secret in entries
    )
    (tmp_path / "circle.toml").write_text(text)
    monkeypatch.setenv("CIRCLE_CONFIG", str(tmp_path / "circle.toml"))


def test_http_trigger_forces_a_rotation(
    vault: tuple[SecretStore, SecretClient], opened: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, _ = vault
    name = f"api-key-{uuid.uuid4().hex[:8]}"
    store.put(name, {"kind": "hmac_api_key"})
    rotation_config(tmp_path, monkeypatch, ("keyvault://myvault", name))
    response = az.handle_force(force_request(name))
    body = json.loads(response.get_body())
    assert response.status_code == 200 and body["outcome"] == "finished"
    assert store.get_stage(name, "current") == body["version"]
    assert json.loads(store.get(name))["key"] not in response.get_body().decode()
    assert opened == ["myvault"]

    assert az.handle_force(force_request("bad_name!")).status_code == 400
    assert az.handle_force(force_request(name, vault=None)).status_code == 400
    assert az.handle_force(force_request(name, method="GET")).status_code == 405
    assert store.get_stage(name, "current") == body["version"]
    monkeypatch.setenv("CIRCLE_ROTATION_VAULT", "myvault")  # the app setting names the vault instead
    again = az.handle_force(force_request(name, vault=None))
    assert again.status_code == 200 and json.loads(again.get_body())["version"] != body["version"]


def test_http_trigger_rotates_only_what_the_configuration_names(
    vault: tuple[SecretStore, SecretClient], opened: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before, any ?vault= and any secret carrying a "kind" was rotated. Now: 404, and no vault is opened."""
    store, _ = vault
    listed, unlisted = (f"api-key-{uuid.uuid4().hex[:8]}" for _ in range(2))
    for name in (listed, unlisted):
        store.put(name, {"kind": "hmac_api_key"})  # both carry a kind: rotatable by their documents alone
    before = {name: store.get_stage(name, "current") for name in (listed, unlisted)}
    rotation_config(
        tmp_path,
        monkeypatch,
        ("keyvault://myvault", listed),
        ("aws-sm://us-east-1", unlisted),
        ("gcp-sm://p", unlisted),
    )

    refused = [
        az.handle_force(force_request(unlisted)),  # a secret of the vault no entry names
        az.handle_force(force_request(listed, vault="othervault")),  # the listed secret, another vault
        az.handle_force(force_request(listed.upper())),  # not the configured name
    ]
    assert [r.status_code for r in refused] == [404, 404, 404]
    assert all("no [[rotation]] entry" in json.loads(r.get_body())["error"] for r in refused)
    monkeypatch.delenv("CIRCLE_CONFIG")
    assert az.handle_force(force_request(listed)).status_code == 404  # no configuration: nothing forceable
    assert opened == []  # no vault was touched
    assert {name: store.get_stage(name, "current") for name in (listed, unlisted)} == before

    rotation_config(tmp_path, monkeypatch, ("keyvault://myvault.vault.azure.net", listed))  # a host also names it
    assert az.handle_force(force_request(listed)).status_code == 200
    assert opened == ["myvault"] and store.get_stage(listed, "current") != before[listed]
    assert store.get_stage(unlisted, "current") == before[unlisted]


def test_force_rotation_statuses() -> None:
    """One answer per error class, through the core's one mapping."""
    from core.handlers.rotation import NotForceable
    from core.secrets.errors import SecretsInvalidArgument, SecretsPermissionDenied, SecretsTransientError
    from core.secrets.rotation.errors import RotationConflict, RotationRefused, RotationTestFailed

    expected = {
        NotForceable("x"): 404,
        RotationConflict("x"): 409,
        RotationTestFailed("x"): 502,
        RotationRefused("x"): 403,
        SecretsInvalidArgument("x"): 400,
        SecretsTransientError("x"): 503,
        SecretsPermissionDenied("x"): 500,
    }
    assert {type(e).__name__: az._status(e) for e in expected} == {type(e).__name__: s for e, s in expected.items()}


def test_blueprint_declares_both_triggers() -> None:
    functions = {f.get_function_name(): f for f in az.bp.get_functions()} if hasattr(az.bp, "get_functions") else {}
    if not functions:  # azure-functions keeps builders on the blueprint before registration
        app = func.FunctionApp()
        app.register_functions(az.bp)
        functions = {f.get_function_name(): f for f in app.get_functions()}
    assert {"secret_near_expiry", "force_rotation"} <= set(functions)
    bindings = json.loads(functions["force_rotation"].get_function_json())["bindings"]
    trigger = next(b for b in bindings if b["type"] == "httpTrigger")
    assert trigger["route"] == "rotate/{name}" and trigger["authLevel"].lower() == "function"
    grid = json.loads(functions["secret_near_expiry"].get_function_json())["bindings"]
    assert any(b["type"] == "eventGridTrigger" for b in grid)


# -- GCP Secret Manager --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fake_sm() -> Iterator[FakeSecretManager]:
    fake = FakeSecretManager()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def project_store(fake_sm: FakeSecretManager) -> Iterator[SecretStore]:
    from google.auth.credentials import AnonymousCredentials

    store = open_secrets("gcp-sm://p", api_endpoint=fake_sm.url, credentials=AnonymousCredentials(), max_age=0)
    gcp.use_projects(lambda project: store)
    try:
        yield store
    finally:
        gcp.use_projects(None)
        store.close()


def pubsub_event(secret: str, event_type: str = "SECRET_ROTATE", message_id: str | None = None) -> CloudEvent:
    envelope = copy.deepcopy(sample("secretmanager-SECRET_ROTATE.pubsub-message.constructed.json"))
    resource = {
        "name": f"projects/p/secrets/{secret}",
        "topics": [{"name": "projects/p/topics/rotations"}],
        "rotation": {"nextRotationTime": "2021-02-19T19:17:45Z", "rotationPeriod": "2592000s"},
    }
    message = envelope["message"]
    message["attributes"].update(eventType=event_type, secretId=f"projects/p/secrets/{secret}")
    message["data"] = base64.b64encode(json.dumps(resource).encode()).decode()
    message["messageId"] = message_id or str(uuid.uuid4().int)[:16]
    message["publishTime"] = "2021-01-20T19:17:45.081Z"
    return CloudEvent(
        {
            "type": "google.cloud.pubsub.topic.v1.messagePublished",
            "source": "//pubsub.googleapis.com/projects/p/topics/rotations",
        },
        envelope,
    )


def test_secret_rotate_adds_a_new_current_version(project_store: SecretStore) -> None:
    name = f"api-key-{uuid.uuid4().hex[:8]}"
    project_store.put(name, {"kind": "hmac_api_key"})
    before = project_store.get_stage(name, "current")
    event = pubsub_event(name)
    gcp.secret_rotation(event)
    after = project_store.get_stage(name, "current")
    assert after != before and project_store.get_stage(name, "previous") == before
    assert "key" in json.loads(project_store.get(name))
    count = len(project_store.versions(name))
    gcp.secret_rotation(event)  # Pub/Sub redelivers: same message id, same rotation
    assert project_store.get_stage(name, "current") == after and len(project_store.versions(name)) == count


def test_topic_configured_is_ignored(project_store: SecretStore) -> None:
    name = f"api-key-{uuid.uuid4().hex[:8]}"
    project_store.put(name, {"kind": "hmac_api_key"})
    versions = project_store.versions(name)
    gcp.secret_rotation(pubsub_event(name, "TOPIC_CONFIGURED"))
    assert project_store.versions(name) == versions


#: Secret Manager REST calls -> the IAM permission each needs (projects.secrets / projects.secrets.versions)
PERMISSIONS = (
    ("GET", r"/secrets/[^/:]+$", "secretmanager.secrets.get"),
    ("PATCH", r"/secrets/[^/:]+$", "secretmanager.secrets.update"),
    ("POST", r"/secrets$", "secretmanager.secrets.create"),
    ("POST", r"/secrets/[^/:]+:addVersion$", "secretmanager.versions.add"),
    ("GET", r"/versions$", "secretmanager.versions.list"),
    ("GET", r"/versions/[^/:]+$", "secretmanager.versions.get"),
    ("GET", r"/versions/[^/:]+:access$", "secretmanager.versions.access"),
    ("POST", r"/versions/[^/:]+:disable$", "secretmanager.versions.disable"),
    ("POST", r"/versions/[^/:]+:enable$", "secretmanager.versions.enable"),
    ("POST", r"/versions/[^/:]+:destroy$", "secretmanager.versions.destroy"),
)
#: roles/secretmanager.secretVersionManager + secretAccessor (the grant docs/rotation.md used to name)
VERSION_MANAGER = {
    "secretmanager.versions.add",
    "secretmanager.versions.destroy",
    "secretmanager.versions.disable",
    "secretmanager.versions.enable",
    "secretmanager.versions.get",
    "secretmanager.versions.list",
    "secretmanager.versions.access",
}


def test_the_gcp_rotation_path_needs_exactly_the_documented_permissions(
    fake_sm: FakeSecretManager, project_store: SecretStore
) -> None:
    """Every Secret Manager call a rotation makes (a SECRET_ROTATE rotation, a failed test, the single
    strategy's revocation), mapped to its IAM permission: the list docs/rotation.md gives, and the reason
    roles/secretmanager.admin is granted (secrets.update: no smaller predefined role has it)."""
    from core.secrets.rotation import SINGLE, RotationEngine, RotationTestFailed, rotator_for
    from core.secrets.rotation.rotators.hmac_api_key import HmacApiKeyRotator

    class Failing(HmacApiKeyRotator):
        def test(self, ctx: Any, pending: Any) -> None:
            raise RotationTestFailed("refused")

    name = f"api-key-{uuid.uuid4().hex[:8]}"
    project_store.put(name, {"kind": "hmac_api_key"})
    fake_sm.requests.clear()
    gcp.secret_rotation(pubsub_event(name))
    with pytest.raises(RotationTestFailed):
        RotationEngine(project_store, name, Failing({})).rotate()
    RotationEngine(project_store, name, rotator_for("hmac_api_key"), SINGLE).rotate()

    seen = set()
    for method, path in fake_sm.requests:
        found = [perm for verb, pattern, perm in PERMISSIONS if verb == method and re.search(pattern, path)]
        assert len(found) == 1, (method, path)
        seen.add(found[0])
    assert seen == {
        "secretmanager.secrets.get",
        "secretmanager.secrets.update",
        "secretmanager.versions.access",
        "secretmanager.versions.add",
        "secretmanager.versions.get",
        "secretmanager.versions.disable",
    }
    assert seen - VERSION_MANAGER == {"secretmanager.secrets.get", "secretmanager.secrets.update"}
