"""``env://`` and ``file://`` specifics, URL parsing, and the cold-start rule (no SDK on import)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from core.secrets import (
    SecretNotFound,
    SecretsError,
    SecretsInvalidArgument,
    SecretsUnsupported,
    open_secrets,
)

ROOT = Path(__file__).resolve().parents[2]


def test_env_reads_exact_then_normalised_names() -> None:
    store = open_secrets("env://APP_", environ={"APP_db-password": "exact", "APP_API_KEY": "normalised"})
    assert store.get("db-password") == "exact"
    assert store.get("api-key") == "normalised"
    assert store.get_secret("api-key").version == "env"
    assert store.stages("api-key") == {"current": "env"}
    with pytest.raises(SecretNotFound):
        store.get("missing")
    with pytest.raises(SecretNotFound):
        store.get("api-key", stage="previous")


def test_env_is_read_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CIRCLE_T_TOKEN", "x")
    store = open_secrets("env://CIRCLE_T_")
    assert store.get("token") == "x"
    for call in (
        lambda: store.put("token", "y"),
        lambda: store.put_pending("token", "y", "a" * 32),
        lambda: store.promote("token", "env"),
        lambda: store.discard("token", "env"),
    ):
        with pytest.raises(SecretsUnsupported):
            call()
    assert os.environ["CIRCLE_T_TOKEN"] == "x"


def test_file_writes_are_atomic_and_private(tmp_path: Path) -> None:
    path = tmp_path / "secrets.json"
    store = open_secrets(f"file://{path}")
    store.put("a", "1")
    store.put("a", "2")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["secrets.json"]  # no temp file left behind
    doc = json.loads(path.read_text())
    assert doc["format"] == "circle-secrets/1"
    assert doc["secrets"]["a"]["stages"] == {"current": "2", "previous": "1"}


def test_file_plain_map_is_read_and_upgraded_on_write(tmp_path: Path) -> None:
    path = tmp_path / "dev.json"
    path.write_text(json.dumps({"token": "t1", "db": {"user": "u", "password": "p"}}))
    store = open_secrets(f"file://{path}")
    assert store.get("token") == "t1"
    assert store.get_json("db") == {"password": "p", "user": "u"}
    store.put("token", "t2")
    assert store.get("token") == "t2" and store.get("token", stage="previous") == "t1"
    assert store.get_json("db") == {"password": "p", "user": "u"}


def test_a_corrupt_file_is_a_typed_error_that_does_not_quote_it(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"token": "corrupt-distinctive-value"')
    with pytest.raises(SecretsError) as info:
        open_secrets(f"file://{path}").get("token")
    assert "corrupt-distinctive-value" not in str(info.value)


@pytest.mark.parametrize(
    "url", ["vault://x", "file://host/path", "file://", "aws-sm://us-east-1/extra", "env://X?opt=1", 42]
)
def test_bad_urls_are_refused(url: object) -> None:
    with pytest.raises(SecretsInvalidArgument):
        open_secrets(url)  # type: ignore[arg-type]


def test_unknown_options_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SecretsInvalidArgument):
        open_secrets(f"file://{tmp_path}/s.json", colour="blue")
    with pytest.raises(SecretsInvalidArgument):
        open_secrets("aws-sm://us-east-1", colour="blue")
    with pytest.raises(SecretsInvalidArgument):
        open_secrets("keyvault://v", colour="blue")
    with pytest.raises(SecretsInvalidArgument):
        open_secrets("gcp-sm://p", colour="blue")


def test_importing_core_secrets_loads_no_cloud_sdk(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "before = set(sys.modules)  # namespace packages a .pth file loads at start-up are not ours\n"
        "import core.secrets as s\n"
        f"st = s.open_secrets('file://{tmp_path}/x.json'); st.put('a', 'b'); st.get('a')\n"
        "s.open_secrets('env://').stages if True else None\n"
        "sdks = ('boto3', 'botocore', 'azure', 'google', 'grpc')\n"
        "bad = [m for m in set(sys.modules) - before if m.split('.')[0] in sdks]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
