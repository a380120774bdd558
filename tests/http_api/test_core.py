"""The core API without an adapter: error mapping (429 with Retry-After, 500 without internals, 501 for
a missing jobs module), the OpenAPI document's coverage of the route table, and the WSGI app."""

from __future__ import annotations

import io
import logging
from typing import Any

import pytest

from core.config import parse_config
from core.http_api import HttpApi, HttpRequest, wsgi_app
from core.http_api.openapi import document
from core.http_api.routes import ROUTES
from core.runtime import Circle
from core.storage import ObjectStore, open_store
from core.storage.errors import Throttled

CONFIG = {
    "stores": {"m": {"url": "memory://core-tests"}, "boom": {"url": "memory://boom"}, "busy": {"url": "memory://busy"}},
    "http": {
        "api_keys": ["k"],
        "grants": [{"principal": "key:ops", "stores": ["*"], "actions": ["read", "write", "admin"]}],
    },
}


class Exploding(ObjectStore):
    def head(self, key: str) -> Any:
        raise RuntimeError("secret internal detail: password=hunter2 at /srv/x.py:12")

    get = head  # type: ignore[assignment]


class Busy(ObjectStore):
    def get(self, key: str, **kwargs: Any) -> Any:
        raise Throttled("slow down", provider="memory", bucket="busy")


@pytest.fixture
def api(tmp_path: Any) -> HttpApi:
    from core.http_api.apikeys import issue
    from core.secrets import open_secrets

    presented, doc = issue("ops")
    url = f"file://{tmp_path}/secrets.json"
    open_secrets(url).put("k", doc)
    config = parse_config({**CONFIG, "secrets": {"url": url}})
    base = open_store("memory://core-tests")
    stores = {
        "m": base,
        "boom": Exploding(base._backend),
        "busy": Busy(base._backend),
    }
    built = HttpApi(Circle.from_config(config, stores=stores))
    built.test_key = presented  # type: ignore[attr-defined]
    return built


def _req(api: HttpApi, method: str, path: str, **headers: str) -> Any:
    return api.handle(HttpRequest(method, path, {}, {"x-api-key": api.test_key, **headers}))  # type: ignore[attr-defined]


def test_unexpected_errors_are_500_without_internals(api: HttpApi, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="circle.http"):
        resp = _req(api, "GET", "/stores/boom/objects/a")
    assert resp.status == 500
    assert resp.json()["error"] == {
        "code": "InternalError",
        "message": "internal error",
        "request_id": resp.headers["x-request-id"],
    }
    assert b"hunter2" not in resp.body_bytes() and b"x.py" not in resp.body_bytes()
    assert any(r.__dict__.get("request_id") == resp.headers["x-request-id"] for r in caplog.records)


def test_throttled_is_429_with_retry_after(api: HttpApi) -> None:
    resp = _req(api, "GET", "/stores/busy/objects/a")
    assert resp.status == 429 and resp.headers["retry-after"] == "1"
    assert resp.json()["error"]["code"] == "Throttled"


def test_reconcile_without_the_jobs_module_is_501(api: HttpApi) -> None:
    try:
        import core.handlers.reconcile  # noqa: F401
    except ImportError:
        resp = _req(api, "POST", "/admin/reconcile")
        assert resp.status == 501 and resp.json()["error"]["code"] == "NotImplemented"
    else:  # the jobs area is merged: the route answers with its report
        resp = _req(api, "POST", "/admin/reconcile", **{"content-type": "application/json"})
        assert resp.status == 200, resp.body


def test_a_request_id_is_echoed_only_when_well_formed(api: HttpApi) -> None:
    ok = api.handle(HttpRequest("GET", "/health", {}, {"x-request-id": "abc-123"}))
    assert ok.headers["x-request-id"] == "abc-123"
    bad = api.handle(HttpRequest("GET", "/health", {}, {"x-request-id": "evil\r\nset-cookie: x"}))
    assert bad.headers["x-request-id"] != "evil\r\nset-cookie: x" and len(bad.headers["x-request-id"]) == 16


def test_repeated_query_parameters_are_rejected(api: HttpApi) -> None:
    resp = api.handle(
        HttpRequest("GET", "/stores/m/objects", {"prefix": ["a", "b"]}, {"x-api-key": api.test_key})  # type: ignore[attr-defined]
    )
    assert resp.status == 400


def test_openapi_covers_every_route() -> None:
    doc = document()
    ops = {(path, method) for path, item in doc["paths"].items() for method in item}
    assert ops == {(r.template, r.method.lower()) for r in ROUTES}
    for path, item in doc["paths"].items():
        for op in item.values():
            assert "500" in op["responses"], path


def test_wsgi_app_keeps_encoded_slashes(api: HttpApi) -> None:
    app = wsgi_app(api)
    body = b"via wsgi"
    put: list[Any] = []
    environ = {
        "REQUEST_METHOD": "PUT",
        "PATH_INFO": "/stores/m/objects/a/b",  # decoded by the server: the raw URI wins
        "RAW_URI": "/stores/m/objects/a%2Fb",
        "QUERY_STRING": "",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "HTTP_X_API_KEY": api.test_key,  # type: ignore[attr-defined]
    }
    b"".join(app(environ, lambda status, headers: put.append(status)))
    assert put == ["200 OK"]
    assert api.circle.store("m").get("a/b").read() == body
