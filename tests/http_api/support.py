"""The HTTP API test rig: a local OIDC issuer (JWKS on loopback, keys generated here), a circle.toml with
stores on the three emulators and a file store, hashed API keys in a file secrets store, and one client
per adapter (Lambda with API Gateway v2 events, Azure through the worker-indexed function, GCP through
the real functions-framework server)."""

from __future__ import annotations

import base64
import copy
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from core.http_api.apikeys import issue
from scripts.emulators import ROOT, Emulators, free_port

ISSUER_AUDIENCE = "circle-api"
EVENTS = ROOT / "tests" / "events" / "data"  # copies of /work/shared/events/aws
APIGW_V2 = EVENTS / "powertools_apiGatewayProxyV2Event.json"
FUNCTION_URL = EVENTS / "lambdago_lambda-urls-request.json"


class Issuer:
    """An OIDC issuer on loopback: /.well-known/openid-configuration and /jwks.json; keys rotate on demand."""

    def __init__(self) -> None:
        self.keys: dict[str, Any] = {}
        self.published: list[str] = []
        self.hits = 0
        self.add_key("k1")
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/.well-known/openid-configuration":
                    doc: dict[str, Any] = {"issuer": issuer.url, "jwks_uri": issuer.url + "/jwks.json"}
                elif self.path == "/jwks.json":
                    issuer.hits += 1
                    doc = {"keys": [issuer.jwk(k) for k in issuer.published]}
                else:
                    self.send_error(404)
                    return
                body = json.dumps(doc).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def add_key(self, kid: str, kind: str = "rsa", publish: bool = True) -> None:
        key = (
            rsa.generate_private_key(public_exponent=65537, key_size=2048)
            if kind == "rsa"
            else ec.generate_private_key(ec.SECP256R1())
        )
        self.keys[kid] = key
        if publish:
            self.published.append(kid)

    def jwk(self, kid: str) -> dict[str, Any]:
        key = self.keys[kid]
        algo = jwt.algorithms.RSAAlgorithm if isinstance(key, rsa.RSAPrivateKey) else jwt.algorithms.ECAlgorithm
        doc = json.loads(algo.to_jwk(key.public_key()))
        doc.update(kid=kid, use="sig", alg="RS256" if isinstance(key, rsa.RSAPrivateKey) else "ES256")
        return doc

    def token(
        self,
        sub: str = "alice",
        *,
        kid: str = "k1",
        alg: str | None = None,
        groups: list[str] | None = None,
        **claims: Any,
    ) -> str:
        now = int(time.time())
        payload = {"iss": self.url, "aud": ISSUER_AUDIENCE, "sub": sub, "iat": now, "exp": now + 300}
        if groups is not None:
            payload["groups"] = groups
        payload.update(claims)
        payload = {k: v for k, v in payload.items() if v is not None}
        key = self.keys[kid]
        alg = alg or ("RS256" if isinstance(key, rsa.RSAPrivateKey) else "ES256")
        return jwt.encode(payload, key, algorithm=alg, headers={"kid": kid})

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def toml(value: Any) -> str:
    return json.dumps(value)


@dataclass
class Rig:
    bucket: str
    config_path: Path
    secrets_url: str
    file_root: Path
    issuer: Issuer
    keys: dict[str, str] = field(default_factory=dict)  # key id -> presented key
    emulators: Emulators | None = None


GRANTS = [
    # alice: everything on every store
    {"principal": "sub:alice", "stores": ["*"], "actions": ["read", "write", "delete", "presign"]},
    # bob (and group readers): read under reports/ of s3, az and gs only
    {"principal": "sub:bob", "stores": ["s3", "az", "gs", "files"], "prefixes": ["reports/"], "actions": ["read"]},
    {"principal": "group:readers", "stores": ["s3", "az", "gs"], "prefixes": ["public/"], "actions": ["read"]},
    # API keys: ci writes under ci/; ops administers
    {"principal": "key:ci", "stores": ["*"], "prefixes": ["ci/"], "actions": ["read", "write", "delete"]},
    {"principal": "key:ops", "stores": ["*"], "actions": ["admin", "read"]},
]


def build(emu: Emulators, tmp: Path, issuer: Issuer) -> Rig:
    bucket = f"http-{uuid.uuid4().hex[:12]}"
    emu.create_buckets(bucket)
    options = emu.store_options()
    files = tmp / "files"
    files.mkdir()
    secrets_path = tmp / "secrets.json"
    secrets_url = f"file://{secrets_path}"
    lines = [f"[secrets]\nurl = {toml(secrets_url)}"]
    for name, url, opts in (
        ("s3", f"s3://{bucket}", options["s3"]),
        ("az", f"az://{bucket}", options["az"]),
        ("gs", f"gs://{bucket}", options["gs"]),
        ("files", f"file://{files}", {}),
    ):
        lines.append(f"[stores.{name}]\nurl = {toml(url)}")
        lines += [f"{k} = {toml(v)}" for k, v in opts.items()]
    lines.append(
        "[http]\nmax_body_bytes = 65536\nredirect_above_bytes = 32768\nmax_presign_seconds = 3600\n"
        'api_keys = ["circle/api-key-ci", "circle/api-key-ops"]\n'
        f"[http.jwt]\nissuer = {toml(issuer.url)}\naudience = {toml(ISSUER_AUDIENCE)}\n"
        'algorithms = ["RS256", "ES256"]\nrefresh_seconds = 0'
    )
    for grant in GRANTS:
        lines.append("[[http.grants]]\n" + "\n".join(f"{k} = {toml(v)}" for k, v in grant.items()))
    lines.append(
        f'[[rotation]]\nsecrets = {toml(secrets_url)}\nsecret = "circle/api-key-ci"\nrotator = "http_api_key"\n'
        'strategy = "dual"'
    )
    path = tmp / "circle.toml"
    path.write_text("\n\n".join(lines) + "\n")
    from core.secrets import open_secrets

    store = open_secrets(secrets_url)
    keys = {}
    for key_id in ("ci", "ops"):
        presented, doc = issue(key_id)
        store.put(f"circle/api-key-{key_id}", doc)
        keys[key_id] = presented
    return Rig(bucket, path, secrets_url, files, issuer, keys, emu)


# -- clients: one request interface over each adapter --------------------------------------------------
@dataclass
class Resp:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def path_for(store: str, key: str) -> str:
    return f"/stores/{store}/objects/{quote(key, safe='')}"


class LambdaClient:
    name = "lambda"
    store = "s3"

    def __init__(self, sample: Path = APIGW_V2) -> None:
        self.template = json.loads(sample.read_text())
        if sample == FUNCTION_URL:
            self.name = "lambda-url"

    def request(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
        query: Mapping[str, str] | None = None,
    ) -> Resp:
        from aws_lambda.handlers import http
        from tests.adapters.lambda_context import LambdaContext

        event = copy.deepcopy(self.template)
        event["rawPath"] = path
        event["rawQueryString"] = urlencode(query or {})
        event.pop("queryStringParameters", None)
        event.pop("pathParameters", None)
        event.pop("cookies", None)
        event["headers"] = dict(headers or {})
        event["requestContext"]["http"]["method"] = method
        event["requestContext"]["http"]["path"] = path
        event["body"] = base64.b64encode(body).decode() if body else None
        event["isBase64Encoded"] = bool(body)
        result = http(event, LambdaContext())
        raw = result.get("body") or ""
        data = base64.b64decode(raw) if result.get("isBase64Encoded") else raw.encode()
        return Resp(result["statusCode"], {k.lower(): v for k, v in result["headers"].items()}, data)


def azure_indexed() -> dict[str, Any]:
    """The FunctionApp indexed as the worker does (azure-functions-runtime), by function name: through the
    one per-process cache every test shares (indexing the same app twice in a process raises)."""
    from tests.azure_worker import indexed

    return indexed()


class AzureClient:
    name = "azure"
    store = "az"

    def request(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
        query: Mapping[str, str] | None = None,
    ) -> Resp:
        import azure.functions as func

        _, info = azure_indexed()["http_api"]
        url = "https://circle.azurewebsites.net/api/v1" + path + (("?" + urlencode(query)) if query else "")
        req = func.HttpRequest(method=method, url=url, headers=dict(headers or {}), params=dict(query or {}), body=body)
        resp = info.func(req)
        return Resp(resp.status_code, {k.lower(): v for k, v in resp.headers.items()}, resp.get_body())


class GcpClient:
    name = "gcp"
    store = "gs"

    def __init__(self, base: str) -> None:
        import requests

        self.base = base
        self.session = requests.Session()

    def request(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
        query: Mapping[str, str] | None = None,
    ) -> Resp:
        r = self.session.request(
            method,
            self.base + path,
            headers=dict(headers or {}),
            data=body or None,
            params=query,
            allow_redirects=False,
            timeout=30,
        )
        return Resp(r.status_code, {k.lower(): v for k, v in r.headers.items()}, r.content)


def start_gcp_server(config_path: Path, log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "CIRCLE_CONFIG": str(config_path), "PYTHONPATH": str(ROOT), "K_SERVICE": "http-api"}
    log = open(log_path, "wb")  # noqa: SIM115 - the child holds it
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "functions_framework",
            "--target",
            "http",
            "--source",
            str(ROOT / "gcp_functions" / "main.py"),
            "--signature-type",
            "http",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
        env=env,
    )
    log.close()
    url = f"http://127.0.0.1:{port}"
    import requests

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            requests.get(url + "/health", timeout=1)
            return proc, url
        except requests.ConnectionError:
            if proc.poll() is not None:
                break
            time.sleep(0.1)
    proc.terminate()
    raise RuntimeError(f"functions-framework did not start: {log_path.read_text()[-2000:]}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
