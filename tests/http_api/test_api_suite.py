"""The API test suite, run through each adapter (Lambda with API Gateway v2 events, Azure through the
worker-indexed function, GCP through the real functions-framework server) against the emulators.
Each adapter uses its own cloud's store (s3, az, gs); bad input is checked to change nothing."""

from __future__ import annotations

import json
import uuid
from typing import Any

import requests

from tests.http_api.support import Rig, path_for


def _key(prefix: str = "t/") -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}/dir/naïve file %2F+&.txt"


def _error(resp: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert resp.status == status, (resp.status, resp.body[:300])
    err = resp.json()["error"]
    assert set(err) == {"code", "message", "request_id"}
    assert err["request_id"] == resp.headers["x-request-id"]
    if code is not None:
        assert err["code"] == code, err
    return err


def test_health_and_openapi_are_public(client: Any) -> None:
    health = client.request("GET", "/health")
    assert health.status == 200 and health.json() == {"ok": True}
    doc = client.request("GET", "/openapi.json").json()
    assert doc["openapi"] == "3.1.0"
    assert "/stores/{store}/objects/{key}" in doc["paths"]
    assert set(doc["paths"]["/stores/{store}/objects/{key}"]) == {"get", "head", "put", "delete"}


def test_deny_by_default(client: Any, rig: Rig) -> None:
    path = path_for(client.store, "t/anything")
    _error(client.request("GET", path), 401, "Unauthenticated")
    _error(client.request("GET", path, headers={"authorization": "Bearer not.a.jwt"}), 401)
    _error(client.request("GET", path, headers={"x-api-key": "ci.forged"}), 401)
    _error(client.request("GET", path, headers={"authorization": "Basic dXNlcjpwYXNz"}), 401)
    _error(client.request("GET", "/stores"), 401)


def test_put_get_head_delete_round_trip(client: Any, alice: dict[str, str]) -> None:
    key = _key()
    path = path_for(client.store, key)
    put = client.request(
        "PUT",
        path,
        headers={**alice, "content-type": "text/plain", "x-circle-meta-owner": "team-a"},
        body=b"hello http",
    )
    assert put.status == 200, put.body
    info = put.json()
    assert info["key"] == key and info["size"] == 10
    etag = put.headers["etag"]

    got = client.request("GET", path, headers=alice)
    assert got.status == 200 and got.body == b"hello http"
    assert got.headers["content-type"].startswith("text/plain")
    assert got.headers["x-circle-meta-owner"] == "team-a"
    assert got.headers["etag"] == etag

    head = client.request("HEAD", path, headers=alice)
    assert head.status == 200 and head.body == b""
    assert head.headers["content-length"] == "10"

    assert client.request("DELETE", path, headers=alice).status == 204
    _error(client.request("GET", path, headers=alice), 404, "NotFound")
    assert client.request("DELETE", path, headers=alice).status == 204  # deleting a missing key is fine


def test_listing_with_prefix_delimiter_and_pages(client: Any, alice: dict[str, str]) -> None:
    base = f"list-{uuid.uuid4().hex[:8]}/"
    for name in ("a.txt", "b.txt", "c.txt", "sub/d.txt"):
        assert client.request("PUT", path_for(client.store, base + name), headers=alice, body=b"x").status == 200
    objects = f"/stores/{client.store}/objects"
    page = client.request("GET", objects, headers=alice, query={"prefix": base, "delimiter": "/"}).json()
    assert [o["key"] for o in page["objects"]] == [base + "a.txt", base + "b.txt", base + "c.txt"]
    assert page["prefixes"] == [base + "sub/"]
    seen: list[str] = []
    token = None
    for _ in range(10):
        query = {"prefix": base, "page_size": "2", **({"token": token} if token else {})}
        page = client.request("GET", objects, headers=alice, query=query).json()
        seen += [o["key"] for o in page["objects"]]
        token = page["next_token"]
        if not token:
            break
    assert sorted(seen) == sorted(base + n for n in ("a.txt", "b.txt", "c.txt", "sub/d.txt"))
    _error(client.request("GET", objects, headers=alice, query={"token": "made-up"}), 400)
    first = client.request("GET", objects, headers=alice, query={"prefix": base, "page_size": "1"}).json()
    mismatched = {"prefix": "other/", "token": first["next_token"]}  # a token continues only its own listing
    _error(client.request("GET", objects, headers=alice, query=mismatched), 400)
    _error(client.request("GET", objects, headers=alice, query={"page_size": "0"}), 400)
    _error(client.request("GET", objects, headers=alice, query={"page_size": "many"}), 400)


def test_ranges(client: Any, alice: dict[str, str]) -> None:
    path = path_for(client.store, _key())
    assert client.request("PUT", path, headers=alice, body=b"0123456789").status == 200
    part = client.request("GET", path, headers={**alice, "range": "bytes=2-5"})
    assert part.status == 206 and part.body == b"2345"
    assert part.headers["content-range"] == "bytes 2-5/10"
    tail = client.request("GET", path, headers={**alice, "range": "bytes=-3"})
    assert tail.status == 206 and tail.body == b"789"
    open_end = client.request("GET", path, headers={**alice, "range": "bytes=7-"})
    assert open_end.body == b"789"
    _error(client.request("GET", path, headers={**alice, "range": "bytes=5-2"}), 400, "InvalidRange")
    _error(client.request("GET", path, headers={**alice, "range": "lines=1-2"}), 400, "InvalidRange")
    _error(client.request("GET", path, headers={**alice, "range": "bytes=1-2,4-5"}), 400, "InvalidRange")
    unsat = client.request("GET", path, headers={**alice, "range": "bytes=50-60"})
    _error(unsat, 416, "RangeNotSatisfiable")
    assert unsat.headers["content-range"] == "bytes */10"


def test_conditional_requests(client: Any, alice: dict[str, str]) -> None:
    path = path_for(client.store, _key())
    first = client.request("PUT", path, headers={**alice, "if-none-match": "*"}, body=b"v1")
    assert first.status == 200
    etag = first.headers["etag"]
    _error(client.request("PUT", path, headers={**alice, "if-none-match": "*"}, body=b"v2"), 412, "PreconditionFailed")
    _error(client.request("PUT", path, headers={**alice, "if-match": '"stale"'}, body=b"v2"), 412)
    assert client.request("GET", path, headers=alice).body == b"v1"  # unchanged
    not_modified = client.request("GET", path, headers={**alice, "if-none-match": etag})
    assert not_modified.status == 304 and not_modified.body == b""
    assert client.request("HEAD", path, headers={**alice, "if-none-match": etag}).status == 304
    _error(client.request("GET", path, headers={**alice, "if-match": '"other"'}), 412)
    assert client.request("GET", path, headers={**alice, "if-match": etag}).body == b"v1"
    swapped = client.request("PUT", path, headers={**alice, "if-match": etag}, body=b"v2")
    assert swapped.status == 200
    _error(client.request("DELETE", path, headers={**alice, "if-match": etag}), 412)  # etag is stale now
    assert client.request("GET", path, headers=alice).body == b"v2"
    _error(client.request("PUT", path, headers={**alice, "if-none-match": '"abc"'}, body=b"v3"), 400)


def test_grants_stop_at_prefix_boundaries(client: Any, rig: Rig, alice: dict[str, str]) -> None:
    bob = {"authorization": "Bearer " + rig.issuer.token("bob")}
    reader = {"authorization": "Bearer " + rig.issuer.token("carol", groups=["readers"])}
    for key in ("reports/q1.csv", "reports-old/q1.csv", "public/p.txt"):
        assert client.request("PUT", path_for(client.store, key), headers=alice, body=b"data").status == 200
    assert client.request("GET", path_for(client.store, "reports/q1.csv"), headers=bob).body == b"data"
    _error(client.request("GET", path_for(client.store, "reports-old/q1.csv"), headers=bob), 403, "PermissionDenied")
    _error(client.request("GET", path_for(client.store, "reports/../reports-old/q1.csv"), headers=bob), 403)
    _error(client.request("PUT", path_for(client.store, "reports/new.csv"), headers=bob, body=b"x"), 403)
    _error(client.request("GET", path_for(client.store, "reports/q1.csv"), headers=reader), 403)
    assert client.request("GET", path_for(client.store, "public/p.txt"), headers=reader).status == 200
    objects = f"/stores/{client.store}/objects"
    _error(client.request("GET", objects, headers=bob), 403)  # a listing of everything is not within reports/
    _error(client.request("GET", objects, headers=bob, query={"prefix": "reports"}), 403)
    assert client.request("GET", objects, headers=bob, query={"prefix": "reports/"}).status == 200
    stores = client.request("GET", "/stores", headers=bob).json()["stores"]
    assert {s["name"] for s in stores} == {"s3", "az", "gs", "files"}


def test_api_keys_and_unknown_stores(client: Any, rig: Rig) -> None:
    ci = {"x-api-key": rig.keys["ci"]}
    path = path_for(client.store, "ci/build.log")
    assert client.request("PUT", path, headers=ci, body=b"log").status == 200
    assert client.request("GET", path, headers={"authorization": "ApiKey " + rig.keys["ci"]}).body == b"log"
    _error(client.request("PUT", path_for(client.store, "other/x"), headers=ci, body=b"x"), 403)
    _error(client.request("GET", path_for("nope", "ci/x"), headers=ci), 404, "NotFound")
    key_id, secret = rig.keys["ci"].split(".", 1)
    _error(client.request("GET", path, headers={"x-api-key": f"{key_id}.{secret[:-2]}xx"}), 401)
    _error(client.request("GET", path, headers={"x-api-key": f"ops.{secret}"}), 401)


def test_bad_input_is_4xx_and_changes_nothing(client: Any, alice: dict[str, str]) -> None:
    objects = f"/stores/{client.store}/objects"
    before = client.request("GET", objects, headers=alice, query={"prefix": "bad/"}).json()
    presign = f"/stores/{client.store}/presign"
    json_h = {**alice, "content-type": "application/json"}
    _error(client.request("POST", presign, headers=json_h, body=b"{not json"), 400, "InvalidJson")
    _error(client.request("POST", presign, headers=json_h, body=b"[1, 2]"), 400)
    _error(client.request("POST", presign, headers=json_h, body=json.dumps({"key": 5}).encode()), 400)
    _error(client.request("POST", presign, headers=json_h, body=json.dumps({"key": "a", "expires": "1"}).encode()), 400)
    _error(
        client.request("POST", presign, headers=json_h, body=json.dumps({"key": "a", "method": "DELETE"}).encode()), 400
    )
    _error(client.request("POST", presign, headers=json_h, body=json.dumps({"key": "a", "evil": 1}).encode()), 400)
    _error(client.request("POST", presign, headers={**alice, "content-type": "text/plain"}, body=b"{}"), 415)
    _error(client.request("PUT", objects + "/bad%2Fnul%00x", headers=alice, body=b"x"), 400, "InvalidKey")
    _error(client.request("PUT", objects + "/bad%2F" + "k" * 1100, headers=alice, body=b"x"), 400, "InvalidKey")
    _error(client.request("PUT", objects + "/bad%2F%FF", headers=alice, body=b"x"), 400, "InvalidKey")
    _error(client.request("PUT", objects + "/bad%2Fbig", headers=alice, body=b"x" * 70000), 413, "PayloadTooLarge")
    _error(
        client.request(
            "PUT",
            objects + "/bad%2Fmeta",
            headers={**alice, "x-circle-meta-bad": "caf\u00e9".encode().decode("latin-1")},
            body=b"x",
        ),
        400,
    )
    _error(client.request("PUT", "/stores/nope/objects/bad%2Fx", headers=alice, body=b"x"), 404)
    _error(client.request("PATCH", objects + "/bad%2Fx", headers=alice, body=b"x"), 405, "MethodNotAllowed")
    _error(client.request("GET", "/no/such/route", headers=alice), 404)
    after = client.request("GET", objects, headers=alice, query={"prefix": "bad/"}).json()
    assert after == before == {"objects": [], "prefixes": [], "next_token": None}


def test_file_store_refuses_dot_dot(client: Any, rig: Rig, alice: dict[str, str]) -> None:
    _error(
        client.request("PUT", "/stores/files/objects/a%2F..%2F..%2Fescape.txt", headers=alice, body=b"x"),
        400,
        "InvalidKey",
    )
    assert not (rig.file_root.parent / "escape.txt").exists()
    assert list(rig.file_root.rglob("escape.txt")) == []


def test_presign_and_large_object_redirect(client: Any, alice: dict[str, str]) -> None:
    """Presigning is the store's (s3 signs locally); a gs store with anonymous emulator credentials
    cannot sign, so the same large GET is proxied instead of redirected."""
    key = _key("big/")
    body = bytes(range(256)) * 160  # 40 KiB: above redirect_above_bytes (32 KiB), below max_body_bytes
    for store in ("s3", "gs"):
        assert client.request("PUT", path_for(store, key), headers=alice, body=body).status == 200
    redirect = client.request("GET", path_for("s3", key), headers=alice)
    assert redirect.status == 307, redirect.body[:200]
    assert requests.get(redirect.headers["location"], timeout=30).content == body
    proxied = client.request("GET", path_for("gs", key), headers=alice)
    assert proxied.status == 200 and proxied.body == body
    # a range is served by the API itself
    assert client.request("GET", path_for("s3", key), headers={**alice, "range": "bytes=0-3"}).body == body[:4]
    signed = client.request(
        "POST",
        "/stores/s3/presign",
        headers={**alice, "content-type": "application/json"},
        body=json.dumps({"key": key, "method": "GET", "expires": 60}).encode(),
    )
    assert signed.status == 200, signed.body
    assert requests.get(signed.json()["url"], timeout=30).content == body


def test_admin_routes_need_admin(client: Any, rig: Rig, alice: dict[str, str]) -> None:
    _error(client.request("POST", "/admin/reconcile", headers=alice), 403)
    _error(client.request("POST", "/admin/rotate/circle%2Fapi-key-ci", headers=alice), 403)
    ops = {"x-api-key": rig.keys["ops"]}
    _error(client.request("POST", "/admin/rotate/not-declared", headers=ops), 404)
    reconcile = client.request(
        "POST", "/admin/reconcile", headers={**ops, "content-type": "application/json"}, body=b'{"dry_run": "yes"}'
    )
    _error(reconcile, 400)
