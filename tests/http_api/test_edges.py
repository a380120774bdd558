"""Edges the first version missed: chunked request bodies (GCP and the WSGI app), bodies that are text
by type but not by content (Lambda), ranges held to the same limits as whole objects and pinned to one
version, front-door credentials next to the core's API key, the reconcile budget, monitoring flushed
per HTTP invocation, and Lambda Function URL events."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from core.config import parse_config
from core.http_api import HttpApi, wsgi_app
from core.runtime import Circle
from tests.http_api.support import Rig, path_for


def _key(prefix: str = "edge/") -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}/obj.bin"


def _chunks(data: bytes, size: int = 1000) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


# -- 1. chunked bodies -------------------------------------------------------------------------------------
def test_a_chunked_put_through_the_gcp_server_stores_the_body(gcp_server: str, alice: dict[str, str], rig: Rig) -> None:
    """requests sends a generator body with Transfer-Encoding: chunked and no Content-Length."""
    path = path_for("gs", _key())
    body = bytes(range(256)) * 40  # 10 KiB
    put = requests.put(gcp_server + path, headers=alice, data=_chunks(body), timeout=30)
    assert put.status_code == 200, put.text
    assert put.request.headers.get("transfer-encoding") == "chunked"
    assert "content-length" not in {k.lower() for k in put.request.headers}
    assert put.json()["size"] == len(body)
    assert requests.get(gcp_server + path, headers=alice, timeout=30).content == body


def test_an_oversized_chunked_put_is_413_and_writes_nothing(gcp_server: str, alice: dict[str, str]) -> None:
    path = path_for("gs", _key())
    big = b"x" * 70000  # the rig's max_body_bytes is 65536
    put = requests.put(gcp_server + path, headers=alice, data=_chunks(big, 4096), timeout=30)
    assert put.status_code == 413, put.text
    assert put.json()["error"]["code"] == "PayloadTooLarge"
    assert requests.head(gcp_server + path, headers=alice, timeout=30).status_code == 404


def _wsgi_call(app: Any, environ: dict[str, Any]) -> tuple[str, bytes]:
    seen: list[str] = []

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        seen.append(status)

    body = b"".join(app(environ, start_response))
    return seen[0], body


def test_the_wsgi_app_reads_a_dechunked_body_and_refuses_one_it_cannot_read(tmp_path: Any) -> None:
    from core.http_api.apikeys import issue
    from core.secrets import open_secrets

    presented, doc = issue("w")
    url = f"file://{tmp_path}/secrets.json"
    open_secrets(url).put("k", doc)
    config = parse_config(
        {
            "stores": {"m": {"url": f"memory://wsgi-{tmp_path.name}"}},
            "secrets": {"url": url},
            "http": {
                "api_keys": ["k"],
                "max_body_bytes": 100,
                "grants": [{"principal": "key:w", "stores": ["*"], "actions": ["read", "write"]}],
            },
        }
    )
    circle = Circle.from_config(config)
    app = wsgi_app(HttpApi(circle))
    base = {"PATH_INFO": "/stores/m/objects/a", "HTTP_X_API_KEY": presented, "REQUEST_METHOD": "PUT"}
    status, _ = _wsgi_call(app, {**base, "wsgi.input": io.BytesIO(b"chunky"), "wsgi.input_terminated": True})
    assert status.startswith("200")
    assert circle.store("m").get("a").read() == b"chunky"
    status, _ = _wsgi_call(app, {**base, "wsgi.input": io.BytesIO(b"y" * 101), "wsgi.input_terminated": True})
    assert status.startswith("413")
    raw = {**base, "PATH_INFO": "/stores/m/objects/b", "HTTP_TRANSFER_ENCODING": "chunked"}
    status, body = _wsgi_call(app, {**raw, "wsgi.input": io.BytesIO(b"5\r\nhello\r\n0\r\n\r\n")})
    assert status.startswith("411"), body
    assert circle.store("m").exists("b") is False


# -- 2. text by type, not by content -------------------------------------------------------------------------
def test_a_text_object_that_is_not_utf8_comes_back_byte_for_byte(client: Any, alice: dict[str, str]) -> None:
    path = path_for(client.store, _key())
    latin1 = b"caf\xe9"
    put = client.request("PUT", path, headers={**alice, "content-type": "text/plain"}, body=latin1)
    assert put.status == 200, put.body
    got = client.request("GET", path, headers=alice)
    assert got.status == 200 and got.headers["content-type"].startswith("text/plain")
    assert got.body == latin1


def test_lambda_sends_utf8_text_as_text_and_anything_else_base64() -> None:
    from aws_lambda.http import to_result
    from core.http_api import HttpResponse

    text = to_result(HttpResponse(200, {"content-type": "text/plain"}, "café".encode()))
    assert text["isBase64Encoded"] is False and text["body"] == "café"
    binary = to_result(HttpResponse(200, {"content-type": "text/plain; charset=latin-1"}, b"caf\xe9"))
    assert binary["isBase64Encoded"] is True and binary["body"] == "Y2Fm6Q=="


# -- 3. ranges: the same limits as whole objects, one version ---------------------------------------------
def test_a_range_longer_than_the_redirect_threshold_redirects(client: Any, alice: dict[str, str]) -> None:
    key = _key("big/")
    body = bytes(range(256)) * 160  # 40 KiB, above the rig's redirect_above_bytes (32 KiB)
    for store in ("s3", "gs"):
        assert client.request("PUT", path_for(store, key), headers=alice, body=body).status == 200
    for rng, want in (("bytes=0-", body), ("bytes=-40000", body[-40000:]), ("bytes=100-33000", body[100:33001])):
        redirect = client.request("GET", path_for("s3", key), headers={**alice, "range": rng})
        assert redirect.status == 307, (rng, redirect.status, redirect.body[:200])
        followed = requests.get(redirect.headers["location"], headers={"range": rng}, timeout=30)
        assert followed.status_code == 206 and followed.content == want
    small = client.request("GET", path_for("s3", key), headers={**alice, "range": "bytes=100-32867"})  # 32 KiB
    assert small.status == 206 and small.body == body[100:32868]
    proxied = client.request("GET", path_for("gs", key), headers={**alice, "range": "bytes=0-"})
    assert proxied.status == 206 and proxied.body == body  # gs on the emulator cannot sign: proxied


class _Replacing:
    """Wraps a store: each of the first ``times`` HEADs is followed by an overwrite (another writer
    between the API's HEAD and its ranged GET)."""

    def __init__(self, store: Any, times: int) -> None:
        self._store, self.times, self.writes = store, times, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def head(self, key: str) -> Any:
        info = self._store.head(key)
        if self.writes < self.times:
            self.writes += 1
            self._store.put(key, f"version {self.writes + 1}, {self.writes + 1} times longer".encode())
        return info


def _range_api(tmp_path: Any, times: int) -> tuple[HttpApi, str, _Replacing]:
    from core.http_api.apikeys import issue
    from core.secrets import open_secrets
    from core.storage import open_store

    presented, doc = issue("r")
    url = f"file://{tmp_path}/secrets.json"
    open_secrets(url).put("k", doc)
    name = f"memory://range-{uuid.uuid4().hex[:8]}"
    config = parse_config(
        {
            "stores": {"m": {"url": name}},
            "secrets": {"url": url},
            "http": {"api_keys": ["k"], "grants": [{"principal": "key:r", "stores": ["*"], "actions": ["read"]}]},
        }
    )
    base = open_store(name)
    base.put("obj", b"version 1!")
    racing = _Replacing(base, times)
    return HttpApi(Circle.from_config(config, stores={"m": racing})), presented, racing  # type: ignore[dict-item]


def test_a_range_is_read_from_the_version_its_head_saw(tmp_path: Any) -> None:
    from core.http_api import HttpRequest

    api, key, racing = _range_api(tmp_path, times=1)
    resp = api.handle(HttpRequest("GET", "/stores/m/objects/obj", {}, {"x-api-key": key, "range": "bytes=0-8"}))
    assert resp.status == 206, resp.body
    assert racing.writes == 1  # the object changed between the first HEAD and its GET
    current = racing.head("obj")
    assert resp.body_bytes() == b"version 2" and resp.headers["etag"] == f'"{current.etag}"'
    assert resp.headers["content-range"] == f"bytes 0-8/{current.size}"


def test_a_range_of_an_object_that_keeps_changing_is_409(tmp_path: Any) -> None:
    from core.http_api import HttpRequest

    api, key, racing = _range_api(tmp_path, times=2)
    resp = api.handle(HttpRequest("GET", "/stores/m/objects/obj", {}, {"x-api-key": key, "range": "bytes=0-3"}))
    assert resp.status == 409, resp.body
    assert resp.json()["error"]["code"] == "Conflict"
    assert racing.writes == 2


# -- 4. front-door credentials next to the core's API key ----------------------------------------------------
FRONT_DOOR = {
    "gcp identity token": "Bearer eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL3J1bi5hcHAifQ.c2ln",
    "aws sigv4": "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261207/eu-west-1/execute-api/aws4_request, "
    "SignedHeaders=host;x-amz-date, Signature=abc123",
}


def test_an_api_key_caller_behind_a_front_door_is_the_key(client: Any, rig: Rig, alice: dict[str, str]) -> None:
    """The platform consumed Authorization (Cloud Run IAM invoker, API Gateway IAM): the core reads
    X-Api-Key alone and never mistakes the platform's credential for its own JWT. (The ops key: the
    ci key is rotated by test_auth, and another warm instance learns a new key only after its refresh.)"""
    path = path_for(client.store, f"door/{uuid.uuid4().hex[:8]}.log")
    assert client.request("PUT", path, headers=alice, body=b"behind the door").status == 200
    for front in FRONT_DOOR.values():
        headers = {"x-api-key": rig.keys["ops"], "authorization": front}
        got = client.request("GET", path, headers=headers)
        assert (got.status, got.body) == (200, b"behind the door"), got.body
        # the key's grants, not anyone else's: ops reads and administers, never writes
        denied = client.request("PUT", path, headers=headers, body=b"x")
        assert denied.status == 403, denied.body
    tagged = {"x-api-key": rig.keys["ops"], "x-serverless-authorization": FRONT_DOOR["gcp identity token"]}
    assert client.request("GET", path, headers=tagged).status == 200


def test_a_forged_api_key_is_not_rescued_by_a_valid_bearer(client: Any, rig: Rig, alice: dict[str, str]) -> None:
    path = path_for(client.store, "ci/anything")
    forged = client.request("GET", path, headers={**alice, "x-api-key": "ci.forged"})
    assert forged.status == 401, forged.body
    empty = client.request("GET", path, headers={**alice, "x-api-key": ""})
    assert empty.status == 401, empty.body
    assert client.request("GET", path, headers=alice).status == 404  # the bearer alone is alice


# -- 5. the reconcile budget ---------------------------------------------------------------------------------
def test_reconcile_through_each_adapter_answers_counts_within_its_budget(client: Any, rig: Rig) -> None:
    ops = {"x-api-key": rig.keys["ops"], "content-type": "application/json"}
    resp = client.request("POST", "/admin/reconcile", headers=ops, body=b'{"dry_run": true}')
    assert resp.status == 200, resp.body
    doc = resp.json()
    assert doc["budget_seconds"] == 20.0  # the default, under API Gateway's 29 s
    assert doc["complete"] is True and doc["dry_run"] is True
    assert {"scanned", "copied", "deleted", "skipped", "failed", "rules"} <= set(doc)


def test_reconcile_stops_at_its_budget_checkpoints_and_continues(tmp_path: Any) -> None:
    """A clock that advances one second per reading: with an 8 s budget (2 s kept in reserve) five keys
    start, the pass checkpoints and answers complete: false, and the next call finishes it."""
    import itertools

    from core.http_api import HttpRequest
    from core.http_api.apikeys import issue
    from core.secrets import open_secrets

    presented, doc = issue("ops")
    url = f"file://{tmp_path}/secrets.json"
    open_secrets(url).put("k", doc)
    tag = uuid.uuid4().hex[:8]
    config = parse_config(
        {
            "stores": {"src": {"url": f"memory://rsrc-{tag}"}, "dst": {"url": f"memory://rdst-{tag}"}},
            "replication": [{"name": "mirror", "source": "src", "targets": ["dst"]}],
            "secrets": {"url": url},
            "http": {
                "api_keys": ["k"],
                "reconcile_seconds": 8,
                "grants": [{"principal": "key:ops", "stores": ["*"], "actions": ["admin"]}],
            },
        }
    )
    circle = Circle.from_config(config)
    for i in range(10):
        circle.store("src").put(f"k{i:02d}", b"x")
    ticks = itertools.count()
    api = HttpApi(circle, clock=lambda: float(next(ticks)))
    req = HttpRequest("POST", "/admin/reconcile", {}, {"x-api-key": presented})

    first = api.handle(req)
    assert first.status == 200, first.body
    report = first.json()
    assert (report["complete"], report["scanned"], report["copied"]) == (False, 5, 5)
    assert report["rules"][0]["resume_after"] == "k04"
    assert sorted(i.key for i in circle.store("dst").list()) == [f"k{i:02d}" for i in range(5)]

    second = api.handle(req).json()
    assert (second["complete"], second["scanned"], second["copied"]) == (True, 5, 5)
    assert sorted(i.key for i in circle.store("dst").list()) == [f"k{i:02d}" for i in range(10)]


# -- 6. monitoring flushed once per HTTP invocation ----------------------------------------------------------
def test_each_lambda_http_request_prints_its_own_emf_document(
    rig: Rig, alice: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.http_api.support import LambdaClient
    from tests.monitoring.emf_spec import check_emf, emf_documents, metric_values

    client = LambdaClient()
    path = path_for("s3", f"t/emf-{uuid.uuid4().hex[:8]}")
    client.request("GET", "/health")
    capsys.readouterr()
    for _ in range(2):  # the second answer's document holds only the second request: nothing piles up
        assert client.request("HEAD", path, headers=alice).status == 404
        docs = emf_documents(capsys.readouterr().out)
        assert docs, "no EMF document printed by the HTTP invocation"
        for doc in docs:
            check_emf(doc)
        assert metric_values(docs, "HttpRequests", route="head_object", status="404") == [1.0]
        assert metric_values(docs, "Invocations", handler="http_api", outcome="ok") == [1.0]
        assert len(metric_values(docs, "StorageLatency", operation="head", provider="s3", store="s3")) == 1


def test_each_azure_http_request_logs_its_custom_dimension_records(
    rig: Rig, alice: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    from tests.http_api.support import AzureClient

    client = AzureClient()
    path = path_for("az", f"t/az-{uuid.uuid4().hex[:8]}")
    client.request("GET", "/health")
    for _ in range(2):
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="circle.monitoring"):
            assert client.request("HEAD", path, headers=alice).status == 404
        dims = [getattr(r, "custom_dimensions", None) for r in caplog.records if r.name == "circle.monitoring"]
        requests_seen = [d for d in dims if d and d["metric"] == "HttpRequests" and d.get("route") == "head_object"]
        assert [(d["status"], d["value"]) for d in requests_seen] == [("404", 1.0)], dims
        invocations = [d for d in dims if d and d["metric"] == "Invocations" and d.get("handler") == "http_api"]
        assert [(d["outcome"], d["value"]) for d in invocations] == [("ok", 1.0)]


def test_each_gcp_http_request_writes_its_cloud_logging_metrics_line(
    rig: Rig, alice: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """In process through functions-framework's own app (the server's stdout is another process's)."""
    import functions_framework

    from gcp_functions import http as gcp_http
    from gcp_functions import main
    from tests.monitoring.test_gcp import TRACE, _gcp_logging

    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "circle-test")
    monkeypatch.delenv("CIRCLE_CLOUD_MONITORING", raising=False)
    main.reset_runtime()
    gcp_http.reset_api()
    path = path_for("gs", f"t/gcp-{uuid.uuid4().hex[:8]}")
    try:
        with _gcp_logging():
            app = functions_framework.create_app(target="http", source=main.__file__, signature_type="http")
            test_client = app.test_client()
            test_client.get("/health")
            for _ in range(2):
                capsys.readouterr()
                answer = test_client.head(path, headers={**alice, "traceparent": TRACE})
                assert answer.status_code == 404
                lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
                [entry] = [x for x in lines if x.get("message") == "metrics"]
                assert entry["logging.googleapis.com/trace"].endswith("/traces/4bf92f3577b34da6a3ce929d0e0e4736")
                metrics = {(m["name"], tuple(sorted(m["labels"].items()))): m for m in entry["metrics"]}
                seen = metrics[("HttpRequests", (("route", "head_object"), ("status", "404")))]
                assert seen["values"] == [1.0]
                assert metrics[("Invocations", (("handler", "http_api"), ("outcome", "ok")))]["values"] == [1.0]
    finally:
        main.reset_runtime()
        gcp_http.reset_api()


# -- 7. Function URL events and the JSON body limit ----------------------------------------------------------
def test_a_function_url_event_reaches_the_api_with_its_own_shape(rig: Rig, alice: dict[str, str]) -> None:
    """The recorded Function URL sample as sent (cookies, IAM authorizer context, a text body): the
    core answers from the event's rawPath and headers, not from the sample's API Gateway fields."""
    import copy

    from aws_lambda.handlers import http
    from tests.adapters.lambda_context import LambdaContext
    from tests.http_api.support import FUNCTION_URL

    event = json.loads(FUNCTION_URL.read_text())
    assert event["requestContext"]["domainName"].endswith(".lambda-url.us-west-2.on.aws")
    unrouted = http(copy.deepcopy(event), LambdaContext())  # POST /my/path: no such route
    assert unrouted["statusCode"] == 404
    assert json.loads(unrouted["body"])["error"]["code"] == "NotFound"
    key = f"t/url-{uuid.uuid4().hex[:8]}.txt"
    event["rawPath"] = path_for("s3", key)
    event["requestContext"]["http"].update(method="PUT", path=event["rawPath"])
    event["headers"] = {**event["headers"], **alice, "content-type": "text/plain"}
    put = http(copy.deepcopy(event), LambdaContext())
    assert put["statusCode"] == 200, put
    event["requestContext"]["http"]["method"] = "GET"
    event["body"] = None
    got = http(event, LambdaContext())
    assert (got["statusCode"], got["isBase64Encoded"], got["body"]) == (200, False, "Hello from client!")


def test_a_json_body_above_64_kib_is_413_and_changes_nothing(client: Any, rig: Rig, alice: dict[str, str]) -> None:
    key = f"t/json-{uuid.uuid4().hex[:8]}"
    doc = {"key": key, "method": "GET", "expires": 60, "pad": "x" * (64 * 1024)}
    body = json.dumps(doc).encode()
    assert 64 * 1024 < len(body) < 65536 + 200
    json_h = {**alice, "content-type": "application/json"}
    resp = client.request("POST", "/stores/s3/presign", headers=json_h, body=body)
    assert resp.status == 413, resp.body[:200]
    assert resp.json()["error"]["code"] == "PayloadTooLarge"
    ops = {"x-api-key": rig.keys["ops"], "content-type": "application/json"}
    big = json.dumps({"dry_run": True, "rule": "r" * (64 * 1024)}).encode()
    assert client.request("POST", "/admin/reconcile", headers=ops, body=big).status == 413


def test_reconcile_of_an_unknown_rule_is_404(client: Any, rig: Rig) -> None:
    """Found by the schemathesis run with an admin caller: it was a 500."""
    ops = {"x-api-key": rig.keys["ops"], "content-type": "application/json"}
    resp = client.request("POST", "/admin/reconcile", headers=ops, body=b'{"rule": "no-such-rule", "dry_run": true}')
    assert resp.status == 404, resp.body
    assert resp.json()["error"]["code"] == "NotFound"


def test_a_secret_name_with_a_slash_routes_encoded_or_plain() -> None:
    """A server that decodes %2F before the app sees it (wsgiref, so ``circle serve``) still reaches
    the rotate route, like an object key."""
    from core.http_api.routes import match

    for path in ("/admin/rotate/circle%2Fapi-key-ci", "/admin/rotate/circle/api-key-ci"):
        route, params = match("POST", path)
        assert (route.name, params) == ("rotate", {"secret": "circle/api-key-ci"})
