"""The same behaviour on every secrets provider: file, AWS (moto), Key Vault and Secret Manager (fakes)."""

from __future__ import annotations

import uuid

import pytest

from core.secrets import (
    CURRENT,
    PENDING,
    PREVIOUS,
    SecretNotFound,
    SecretsConflict,
    SecretsInvalidArgument,
    SecretsPermissionDenied,
    SecretStore,
)


def token() -> str:
    return str(uuid.uuid4())


def test_put_then_get_returns_the_value_and_its_version(secrets: SecretStore, secret_name: str) -> None:
    version = secrets.put(secret_name, "s3cr3t-one")
    assert secrets.get(secret_name) == "s3cr3t-one"
    assert secrets.get(secret_name, version=version) == "s3cr3t-one"
    assert secrets.get_secret(secret_name).version == version
    assert secrets.stages(secret_name) == {CURRENT: version}


def test_a_dict_is_stored_as_json_and_read_back_with_get_json(secrets: SecretStore, secret_name: str) -> None:
    secrets.put(secret_name, {"access_key_id": "AKIA1", "secret_access_key": "abc/def", "n": 3})
    assert secrets.get_json(secret_name) == {"access_key_id": "AKIA1", "secret_access_key": "abc/def", "n": 3}


def test_get_json_of_a_plain_string_is_a_typed_error(secrets: SecretStore, secret_name: str) -> None:
    secrets.put(secret_name, "not-json-at-all")
    with pytest.raises(SecretsInvalidArgument) as info:
        secrets.get_json(secret_name)
    assert "not-json-at-all" not in str(info.value)


def test_a_second_put_makes_the_first_previous(secrets: SecretStore, secret_name: str) -> None:
    v1 = secrets.put(secret_name, "value-1")
    v2 = secrets.put(secret_name, "value-2")
    assert v1 != v2
    assert secrets.get(secret_name) == "value-2"
    assert secrets.get(secret_name, stage=PREVIOUS) == "value-1"
    assert secrets.stages(secret_name) == {CURRENT: v2, PREVIOUS: v1}
    versions = secrets.versions(secret_name)
    assert [v.id for v in versions] == [v1, v2]
    assert versions[1].stages == (CURRENT,) and versions[0].stages == (PREVIOUS,)
    assert all(v.enabled for v in versions)


def test_missing_secret_is_secret_not_found_and_a_key_error(secrets: SecretStore, secret_name: str) -> None:
    with pytest.raises(SecretNotFound) as info:
        secrets.get(secret_name)
    assert isinstance(info.value, KeyError)
    assert secret_name in str(info.value)


def test_versions_of_a_missing_secret_is_secret_not_found(
    secrets: SecretStore, secret_name: str, request: pytest.FixtureRequest
) -> None:
    if secrets.provider == "aws-sm":
        request.applymarker(
            pytest.mark.xfail(
                strict=True,
                reason="moto 5.2 answers ListSecretVersionIds for a "
                "missing secret with HTTP 500, not ResourceNotFoundException",
            )
        )
    with pytest.raises(SecretNotFound):
        secrets.versions(secret_name)


def test_missing_stage_is_secret_not_found(secrets: SecretStore, secret_name: str) -> None:
    secrets.put(secret_name, "only-current")
    with pytest.raises(SecretNotFound):
        secrets.get(secret_name, stage=PENDING)
    assert secrets.get_stage(secret_name, PENDING) is None


def test_rotation_staging_cycle(secrets: SecretStore, secret_name: str) -> None:
    v1 = secrets.put(secret_name, {"password": "old-pass"})
    tok = token()
    pending = secrets.put_pending(secret_name, {"password": "new-pass"}, tok)
    # readers still see the current credential while the pending one is set up and tested
    assert secrets.get_json(secret_name) == {"password": "old-pass"}
    assert secrets.get_json(secret_name, stage=PENDING) == {"password": "new-pass"}
    assert secrets.get_stage(secret_name, PENDING) == pending
    assert secrets.stages(secret_name) == {CURRENT: v1, PENDING: pending}

    # a redelivered createSecret step with the same token writes nothing new
    assert secrets.put_pending(secret_name, {"password": "other"}, tok) == pending
    assert secrets.get_json(secret_name, stage=PENDING) == {"password": "new-pass"}
    assert len(secrets.versions(secret_name)) == 2

    secrets.promote(secret_name, pending)
    assert secrets.get_json(secret_name) == {"password": "new-pass"}
    assert secrets.get_json(secret_name, stage=PREVIOUS) == {"password": "old-pass"}
    assert secrets.stages(secret_name) == {CURRENT: pending, PREVIOUS: v1}

    secrets.promote(secret_name, pending)  # idempotent: a redelivered finishSecret changes nothing
    assert secrets.stages(secret_name) == {CURRENT: pending, PREVIOUS: v1}


def test_two_rotations_keep_one_previous(secrets: SecretStore, secret_name: str) -> None:
    v1 = secrets.put(secret_name, "gen-1")
    v2 = secrets.put_pending(secret_name, "gen-2", token())
    secrets.promote(secret_name, v2)
    v3 = secrets.put_pending(secret_name, "gen-3", token())
    secrets.promote(secret_name, v3)
    assert secrets.stages(secret_name) == {CURRENT: v3, PREVIOUS: v2}
    assert secrets.get(secret_name) == "gen-3"
    assert [v.id for v in secrets.versions(secret_name)] == [v1, v2, v3]


def test_discard_a_failed_pending_version_leaves_current_untouched(secrets: SecretStore, secret_name: str) -> None:
    v1 = secrets.put(secret_name, "good-cred")
    pending = secrets.put_pending(secret_name, "bad-cred", token())
    secrets.discard(secret_name, pending)
    assert secrets.stages(secret_name) == {CURRENT: v1}
    assert secrets.get(secret_name) == "good-cred"
    with pytest.raises(SecretNotFound):
        secrets.get(secret_name, stage=PENDING)
    discarded = next(v for v in secrets.versions(secret_name) if v.id == pending)
    assert discarded.stages == ()
    if secrets.provider == "aws-sm":
        # Secrets Manager has no disabled state: the version just loses its label (deprecated)
        assert discarded.enabled
    else:
        assert not discarded.enabled
        with pytest.raises(SecretsPermissionDenied) as info:
            secrets.get(secret_name, version=pending)
        assert "bad-cred" not in str(info.value)
    secrets.discard(secret_name, pending)  # idempotent
    assert secrets.stages(secret_name) == {CURRENT: v1}


def test_discarding_the_current_version_is_refused(secrets: SecretStore, secret_name: str) -> None:
    v1 = secrets.put(secret_name, "keep-me")
    with pytest.raises(SecretsConflict):
        secrets.discard(secret_name, v1)
    assert secrets.get(secret_name) == "keep-me"
    assert secrets.stages(secret_name) == {CURRENT: v1}


def test_put_pending_needs_an_existing_secret(secrets: SecretStore, secret_name: str) -> None:
    with pytest.raises(SecretNotFound):
        secrets.put_pending(secret_name, "orphan", token())


def test_promote_of_an_unknown_version_is_not_found_and_changes_nothing(secrets: SecretStore, secret_name: str) -> None:
    v1 = secrets.put(secret_name, "stay")
    unknown = "99999" if secrets.provider in ("gcp-sm", "file") else uuid.uuid4().hex
    with pytest.raises((SecretNotFound, SecretsInvalidArgument)):
        secrets.promote(secret_name, unknown)
    assert secrets.stages(secret_name) == {CURRENT: v1}


@pytest.mark.parametrize("bad", ["", "has space", "x" * 600, "semi;colon", None, 42])
def test_invalid_names_are_refused_before_any_call(secrets: SecretStore, bad: object) -> None:
    with pytest.raises(SecretsInvalidArgument):
        secrets.get(bad)  # type: ignore[arg-type]
    with pytest.raises(SecretsInvalidArgument):
        secrets.put(bad, "v")  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["", 12, None, b"bytes", {"bad": {1, 2}}])
def test_invalid_values_are_refused_and_change_nothing(secrets: SecretStore, secret_name: str, value: object) -> None:
    v1 = secrets.put(secret_name, "unchanged")
    with pytest.raises(SecretsInvalidArgument):
        secrets.put(secret_name, value)  # type: ignore[arg-type]
    assert secrets.stages(secret_name) == {CURRENT: v1}


@pytest.mark.parametrize("tok", ["short", "x" * 65, "has space" * 5, None])
def test_invalid_tokens_are_refused(secrets: SecretStore, secret_name: str, tok: object) -> None:
    secrets.put(secret_name, "v")
    with pytest.raises(SecretsInvalidArgument):
        secrets.put_pending(secret_name, "w", tok)  # type: ignore[arg-type]
    assert PENDING not in secrets.stages(secret_name)


def test_version_and_stage_together_are_refused(secrets: SecretStore, secret_name: str) -> None:
    v1 = secrets.put(secret_name, "v")
    with pytest.raises(SecretsInvalidArgument):
        secrets.get(secret_name, version=v1, stage=CURRENT)
    with pytest.raises(SecretsInvalidArgument):
        secrets.get(secret_name, stage="AWSCURRENT")


def test_an_oversized_value_is_refused(secrets: SecretStore, secret_name: str) -> None:
    with pytest.raises(SecretsInvalidArgument):
        secrets.put(secret_name, "x" * (secrets.backend.max_value_bytes + 1))
    with pytest.raises(SecretNotFound):
        secrets.get(secret_name)
