"""No secret value reaches a log line, an exception or a repr, on any provider, at any log level."""

from __future__ import annotations

import logging
import pickle
import traceback
import uuid

import pytest

from core.secrets import PENDING, SecretNotFound, SecretsError, SecretStore, SecretValue


def test_a_full_rotation_and_its_errors_never_show_the_value(
    secrets: SecretStore, secret_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    old = f"OLD-{uuid.uuid4().hex}"
    new = f"NEW-{uuid.uuid4().hex}"
    seen: list[str] = []
    # every logger at DEBUG, the SDKs' wire logs included (botocore echoes request and response bodies)
    with caplog.at_level(logging.DEBUG):
        v1 = secrets.put(secret_name, {"password": old})
        seen += [
            repr(secrets),
            str(secrets.get_secret(secret_name)),
            repr(secrets.get_secret(secret_name)),
            f"{secrets.get_secret(secret_name)}",
        ]
        pending = secrets.put_pending(secret_name, {"password": new}, str(uuid.uuid4()))
        seen.append(repr(secrets.versions(secret_name)))
        secrets.promote(secret_name, pending)
        assert secrets.get_json(secret_name)["password"] == new
        errors: list[SecretsError] = []
        for call in (
            lambda: secrets.discard(secret_name, pending),  # current: refused
            lambda: secrets.get(secret_name + "-missing"),  # missing
            lambda: secrets.get_json(secret_name, version=v1)["nope"],  # plain KeyError path
            lambda: secrets.put(secret_name, {"password": {old, new}}),  # not JSON-serialisable
            lambda: secrets.get(secret_name, stage=PENDING),
        ):
            try:
                call()
            except SecretsError as exc:
                errors.append(exc)
            except KeyError:
                pass
        assert len(errors) == 4
        for err in errors:
            seen += [
                str(err),
                repr(err),
                "".join(traceback.format_exception(err)),
                str(pickle.loads(pickle.dumps(err))),
            ]
    seen.append(caplog.text)
    seen += [str(r.__dict__) for r in caplog.records]
    assert caplog.records, "the store logs its writes"
    for text in seen:
        assert old not in text and new not in text


def test_secret_value_wrapper_hides_the_value() -> None:
    value = SecretValue("hunter2-distinctive", "v1")
    for text in (repr(value), str(value), f"{value}", f"{value!r}", str([value])):
        assert "hunter2-distinctive" not in text
    assert value.reveal() == "hunter2-distinctive"
    assert value == SecretValue("hunter2-distinctive", "v1")


def test_missing_json_field_error_does_not_quote_the_document(tmp_path: object) -> None:
    from core.secrets import open_secrets, register_secret_store, resolve_reference, unregister_secret_store

    store = open_secrets(f"file://{tmp_path}/s.json")
    store.put("cred", {"user": "u", "password": "pw-distinctive-123"})
    register_secret_store("redact-test", store)
    try:
        with pytest.raises(SecretNotFound) as info:
            resolve_reference("secret://redact-test/cred#token")
        assert "pw-distinctive-123" not in str(info.value)
        assert "pw-distinctive-123" not in "".join(traceback.format_exception(info.value))
    finally:
        unregister_secret_store("redact-test")


def test_the_sdk_wire_filter_withholds_bodies_and_values_and_keeps_other_lines(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from core.secrets.redaction import LOGGERS, WITHHELD, SdkWireFilter, install_sdk_log_redaction

    install_sdk_log_redaction()
    install_sdk_log_redaction()
    for name in LOGGERS:  # installed once however often it is called
        assert sum(isinstance(f, SdkWireFilter) for f in logging.getLogger(name).filters) == 1
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("botocore.parsers").debug("Response body:\n%r", b'{"AccessKeyId": "AK", "x": "sk-1"}')
        logging.getLogger("botocore.hooks").debug("Event %s carries %s", "before-call", '{"SecretString": "sk-2"}')
        logging.getLogger("botocore.endpoint").debug("Response status %s", 200)
    assert "sk-1" not in caplog.text and "sk-2" not in caplog.text
    assert [r.getMessage() for r in caplog.records] == [WITHHELD, WITHHELD, "Response status 200"]
