"""README's HTTP API section runs as written: its ``[http]`` table is the configuration (with an S3 store
named ``incoming`` on moto and a file secrets store in place of Secrets Manager) and its curl block runs
in bash, ``set -e``, against the API served on loopback (the WSGI app, as ``circle serve`` does). Every
command uses ``curl -f``, so any answer of 400 or above fails the run."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest

from core.http_api import HttpApi, wsgi_app
from core.http_api.apikeys import issue
from scripts.emulators import ROOT

README = ROOT / "README.md"


def _section_blocks(kind: str) -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## HTTP API\n") :]
    section = section[: section.index("\n## ", 1)]
    return re.findall(rf"```{kind}\n(.*?)```", section, flags=re.S)


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture
def served(emulators: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, dict[str, str]]]:
    from core.config import load_config
    from core.runtime import Circle
    from core.secrets import open_secrets

    bucket = f"readme-{uuid.uuid4().hex[:12]}"
    emulators.create_buckets(bucket)
    secrets_url = f"file://{tmp_path}/secrets.json"
    [http_table] = _section_blocks("toml")
    lines = [f'[secrets]\nurl = "{secrets_url}"', f'[stores.incoming]\nurl = "s3://{bucket}"']
    lines += [f"{k} = {json.dumps(v)}" for k, v in emulators.store_options()["s3"].items()]
    lines.append(http_table.replace('"aws-sm://"', json.dumps(secrets_url)))
    config = tmp_path / "circle.toml"
    config.write_text("\n".join(lines) + "\n")
    monkeypatch.setenv("CIRCLE_CONFIG", str(config))
    keys = {}
    store = open_secrets(secrets_url)
    for key_id in ("app", "ops"):
        presented, doc = issue(key_id)
        store.put(f"circle/api-key-{key_id}", doc)
        keys[key_id.upper() + "_KEY"] = presented
    api = HttpApi(Circle.from_config(load_config(config)))
    server: WSGIServer = make_server("127.0.0.1", 0, wsgi_app(api), handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", keys
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
def test_the_readme_curl_examples_work_as_written(served: tuple[str, dict[str, str]], tmp_path: Path) -> None:
    url, keys = served
    [block] = _section_blocks("sh")
    script = re.sub(r"^API=.*$", "", block, count=1, flags=re.M)  # the stack's URL: ours instead
    assert "$API" in script and "API=" not in script
    (tmp_path / "q1.csv").write_text("quarter,revenue\nq1,100\n" * 20)
    proc = subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + script],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "API": url, **keys},
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, f"{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    out = proc.stdout
    assert '{"ok":true}' in out
    assert '"name":"incoming"' in out
    assert "quarter,revenue" in out  # the ranged GET
    assert '"method":"PUT"' in out  # the presigned PUT
    assert '"complete":true' in out and '"budget_seconds":20.0' in out  # the reconcile
    assert '"api_key":"app.' in out  # the rotation hands out the new key once
