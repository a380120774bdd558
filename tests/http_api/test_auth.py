"""Authentication: bearer JWTs against the local issuer's JWKS (every way a token can be wrong), API keys
hashed at rest and rotated with an overlap, and the deny-by-default rule."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from core.config import JwtSettings, load_config, parse_config
from core.http_api import ApiError, HttpApi, HttpRequest
from core.http_api.apikeys import ApiKeys, issue
from core.http_api.jwks import JwtVerifier
from core.runtime import Circle
from tests.http_api.support import ISSUER_AUDIENCE, Issuer, LambdaClient, Rig, path_for


@pytest.fixture
def api(rig: Rig) -> HttpApi:
    return HttpApi(Circle.from_config(load_config(rig.config_path)))


def _get(api: HttpApi, token: str, key: str = "t/missing") -> Any:
    return api.handle(HttpRequest("GET", path_for("s3", key), {}, {"authorization": f"Bearer {token}"}))


def _b64(doc: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).rstrip(b"=").decode()


def _rejected(api: HttpApi, token: str, words: str) -> None:
    resp = _get(api, token)
    assert resp.status == 401, resp.body
    assert words in resp.json()["error"]["message"]


def test_a_valid_token_reaches_the_store(api: HttpApi, issuer: Issuer) -> None:
    resp = _get(api, issuer.token("alice"))
    assert resp.status == 404  # authenticated and authorized: the object is simply absent


def test_expired_not_yet_valid_wrong_audience_and_issuer(api: HttpApi, issuer: Issuer) -> None:
    now = int(time.time())
    _rejected(api, issuer.token(exp=now - 120), "expired")
    _rejected(api, issuer.token(nbf=now + 600), "not valid yet")
    _rejected(api, issuer.token(aud="someone-else"), "audience")
    _rejected(api, issuer.token(iss="https://evil.example"), "issuer")
    _rejected(api, issuer.token(exp=None), "invalid")  # exp is required
    _rejected(api, issuer.token(sub=None), "invalid")


def test_alg_none_and_algorithm_confusion_are_refused(api: HttpApi, issuer: Issuer) -> None:
    now = int(time.time())
    claims = {"iss": issuer.url, "aud": ISSUER_AUDIENCE, "sub": "alice", "exp": now + 300}
    _rejected(api, f"{_b64({'alg': 'none', 'kid': 'k1'})}.{_b64(claims)}.", "algorithm")
    _rejected(api, f"{_b64({'alg': 'None', 'kid': 'k1'})}.{_b64(claims)}.", "algorithm")
    public_pem = (
        issuer.keys["k1"]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    header = {"alg": "HS256", "kid": "k1", "typ": "JWT"}
    import hashlib
    import hmac

    signing_input = f"{_b64(header)}.{_b64(claims)}"
    sig = base64.urlsafe_b64encode(hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()).rstrip(b"=")
    _rejected(api, f"{signing_input}.{sig.decode()}", "algorithm")


def test_forged_signature_and_unknown_key(api: HttpApi, issuer: Issuer) -> None:
    issuer.add_key("rogue", publish=False)
    _rejected(api, issuer.token(kid="rogue"), "unknown")
    payload = issuer.token("mallory", kid="rogue").split(".")[1]
    real = issuer.token().split(".")
    _rejected(api, f"{real[0]}.{payload}.{real[2]}", "invalid")  # k1's signature over other claims
    _rejected(api, "a" * 20000, "too long")


def test_unknown_kid_refreshes_the_jwks_once(issuer: Issuer) -> None:
    settings = JwtSettings(issuer=issuer.url, audience=ISSUER_AUDIENCE, refresh_seconds=30)
    clock = [1000.0]
    verifier = JwtVerifier(settings, clock=lambda: clock[0])
    assert verifier.verify(issuer.token("alice")).id == "sub:alice"
    assert verifier.fetches == 1
    issuer.add_key("k-ec", kind="ec")  # the issuer rotates in a new signing key
    clock[0] += 31
    assert verifier.verify(issuer.token("alice", kid="k-ec", groups=["readers"])).groups == ("readers",)
    assert verifier.fetches == 2
    for _ in range(5):  # a flood of unknown kids does not refetch within refresh_seconds
        with pytest.raises(ApiError) as err:
            verifier.verify(issuer.token(kid="rogue-2") if "rogue-2" in issuer.keys else _new_rogue(issuer))
        assert err.value.status == 401
    assert verifier.fetches == 2
    assert verifier.verify(issuer.token("alice")).id == "sub:alice"  # cached keys still work


def _new_rogue(issuer: Issuer) -> str:
    issuer.add_key("rogue-2", publish=False)
    return issuer.token(kid="rogue-2")


def test_no_scheme_configured_authenticates_nobody(rig: Rig, issuer: Issuer) -> None:
    config = parse_config({"stores": {"m": {"url": "memory://b"}}, "http": {"grants": []}})
    api = HttpApi(Circle.from_config(config))
    for headers in ({}, {"authorization": "Bearer " + issuer.token()}, {"x-api-key": rig.keys["ci"]}):
        resp = api.handle(HttpRequest("GET", "/stores/m/objects/a", {}, headers))
        assert resp.status == 401
    no_http = HttpApi(Circle.from_config(parse_config({"stores": {"m": {"url": "memory://b"}}})))
    assert no_http.handle(HttpRequest("GET", "/stores", {}, {})).status == 401
    assert no_http.handle(HttpRequest("GET", "/health", {}, {})).status == 200


def test_api_keys_are_hashed_at_rest(rig: Rig) -> None:
    from core.secrets import open_secrets

    stored = open_secrets(rig.secrets_url).get("circle/api-key-ci")
    secret = rig.keys["ci"].split(".", 1)[1]
    assert secret not in stored
    assert set(json.loads(stored)) >= {"kind", "key_id", "salt", "digest"}


def test_api_key_cache_drops_a_retired_key(rig: Rig) -> None:
    from core.secrets import open_secrets

    store = open_secrets(rig.secrets_url)
    clock = [0.0]
    keys = ApiKeys(lambda: store, ["circle/test-key"], max_age=60, refresh_seconds=5, clock=lambda: clock[0])
    first, doc = issue("tk")
    store.put("circle/test-key", doc)
    assert keys.verify(first).id == "key:tk"
    second, doc2 = issue("tk")
    store.put("circle/test-key", doc2)  # the first becomes previous: both valid
    clock[0] += 6
    assert keys.verify(second).id == "key:tk"
    assert keys.verify(first).id == "key:tk"
    third, doc3 = issue("tk")
    store.put("circle/test-key", doc3)  # the first is now neither current nor previous
    clock[0] += 61
    with pytest.raises(ApiError):
        keys.verify(first)
    assert keys.verify(third).id == "key:tk"


def test_rotate_an_api_key_through_the_admin_route(rig: Rig) -> None:
    """POST /admin/rotate/{secret} (Lambda adapter): the new key is shown once; during the overlap
    both the old and the new key work."""
    client = LambdaClient()
    ops = {"x-api-key": rig.keys["ops"]}
    old = rig.keys["ci"]
    resp = client.request("POST", "/admin/rotate/circle%2Fapi-key-ci", headers=ops)
    assert resp.status == 200, resp.body
    new = resp.json()["api_key"]
    assert resp.headers["cache-control"] == "no-store"
    assert new != old and new.startswith("ci.")
    path = path_for("s3", "ci/rotated.txt")
    assert client.request("PUT", path, headers={"x-api-key": new}, body=b"new").status == 200
    assert client.request("GET", path, headers={"x-api-key": old}).body == b"new"
    rig.keys["ci"] = new
