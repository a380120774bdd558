"""HTTP API benchmark (issue 10), loopback only, bounded in time:

1. load: 32 concurrent clients for 30 s of mixed reads (70%) and writes (30%) of 1 KiB objects through
   the local functions-framework server (``gcp_functions.main.http``) in front of moto; errors, p50/p99,
   throughput.
2. cold request per adapter: a fresh process imports the adapter and answers its first GET (1 KiB).
3. each adapter's conversion (Lambda event, ``func.HttpRequest``) per 1 KiB GET on a memory store, next to
   ``HttpApi.handle`` and ``ObjectStore.get`` in the same loop.
4. warm p50/p99 of a 1 KiB GET and a 1 MiB PUT, interleaved with the same operations straight to the
   storage emulator (``ObjectStore`` on moto): through the server, and through ``HttpApi.handle`` in
   process (auth, routing, conversion only). The API's own share = (API p50 - direct p50) / direct p50.

    .venv/bin/python -m bench.bench_http [--seconds 30] [--clients 32] [--warm 200]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests

from scripts import emulators
from scripts.emulators import ROOT, free_port

KiB, MiB = 1024, 1024 * 1024


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def setup(emu: emulators.Emulators, tmp: Path) -> tuple[Path, str, str]:
    """A bucket, a circle.toml with one s3 store and an API key, and the key presented by clients."""
    from core.http_api.apikeys import issue
    from core.secrets import open_secrets

    bucket = f"bench-http-{uuid.uuid4().hex[:8]}"
    emu.create_buckets(bucket)
    secrets_url = f"file://{tmp}/secrets.json"
    presented, doc = issue("bench")
    open_secrets(secrets_url).put("bench-key", doc)
    opts = emu.store_options()["s3"]
    lines = [f"[secrets]\nurl = {json.dumps(secrets_url)}", f"[stores.s3]\nurl = {json.dumps('s3://' + bucket)}"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in opts.items()]
    lines.append('[http]\napi_keys = ["bench-key"]\nmax_body_bytes = 8388608\nredirect_above_bytes = 8388608')
    lines.append('[[http.grants]]\nprincipal = "key:bench"\nstores = ["s3"]\nactions = ["read", "write", "delete"]')
    path = tmp / "circle.toml"
    path.write_text("\n\n".join(lines) + "\n")
    return path, bucket, presented


def start_server(config: Path, tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "CIRCLE_CONFIG": str(config), "PYTHONPATH": str(ROOT), "CIRCLE_LOG_LEVEL": "WARNING"}
    log = open(tmp / "ff.log", "wb")  # noqa: SIM115 - the child holds it
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "functions_framework",
            "--target",
            "http",
            "--source",
            str(ROOT / "gcp_functions" / "main.py"),
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
    for _ in range(300):
        try:
            requests.get(url + "/health", timeout=1)
            return proc, url
        except requests.ConnectionError:
            time.sleep(0.1)
    raise RuntimeError("server did not start")


def load(url: str, key: str, seconds: float, clients: int) -> dict[str, Any]:
    headers = {"x-api-key": key}
    pool = [f"load/{i:03d}" for i in range(64)]
    body = os.urandom(KiB)
    with requests.Session() as s:
        for k in pool:
            s.put(f"{url}/stores/s3/objects/{k.replace('/', '%2F')}", data=body, headers=headers, timeout=30)
    lat: list[list[float]] = [[] for _ in range(clients)]
    errors: list[str] = []
    stop = time.monotonic() + seconds
    barrier = threading.Barrier(clients)

    def worker(i: int) -> None:
        rnd = random.Random(i)
        with requests.Session() as s:
            barrier.wait()
            while time.monotonic() < stop:
                k = rnd.choice(pool).replace("/", "%2F")
                t = time.perf_counter()
                if rnd.random() < 0.7:
                    r = s.get(f"{url}/stores/s3/objects/{k}", headers=headers, timeout=30)
                else:
                    r = s.put(f"{url}/stores/s3/objects/{k}", data=body, headers=headers, timeout=30)
                lat[i].append(time.perf_counter() - t)
                if r.status_code != 200:
                    errors.append(f"{r.status_code} {r.text[:100]}")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    flat = [x for per in lat for x in per]
    return {
        "requests": len(flat),
        "errors": len(errors),
        "first_errors": errors[:3],
        "seconds": round(elapsed, 1),
        "rps": round(len(flat) / elapsed, 1),
        "p50_ms": round(pct(flat, 0.5), 1),
        "p99_ms": round(pct(flat, 0.99), 1),
    }


COLD = {
    "aws": """
import json, time, base64
t = time.perf_counter()
from aws_lambda.handlers import http
event = json.load(open("tests/events/data/powertools_apiGatewayProxyV2Event.json"))
event.update(rawPath="/stores/s3/objects/cold%2Fk", rawQueryString="", headers={"x-api-key": KEY}, body=None,
             isBase64Encoded=False)
event["requestContext"]["http"]["method"] = "GET"
out = http(event, None)
assert out["statusCode"] == 200, out
print(json.dumps({"ms": (time.perf_counter() - t) * 1000}))
""",
    "azure": """
import json, time
t = time.perf_counter()
import azure.functions as func
from azure_functions.app import app
from azure_functions.http import api, to_request
req = func.HttpRequest("GET", "https://x/api/v1/stores/s3/objects/cold%2Fk", headers={"x-api-key": KEY}, body=b"")
resp = api().handle(to_request(req))
out = func.HttpResponse(resp.body_bytes(), status_code=resp.status, headers=dict(resp.headers))
assert out.status_code == 200
print(json.dumps({"ms": (time.perf_counter() - t) * 1000}))
""",
    "gcp": """
import json, time
t = time.perf_counter()
import flask
from gcp_functions.main import http
app = flask.Flask("cold")
with app.test_request_context("/stores/s3/objects/cold%2Fk", headers={"x-api-key": KEY}):
    r = http(flask.request)
    r.get_data()
assert r.status_code == 200, r.status_code
print(json.dumps({"ms": (time.perf_counter() - t) * 1000}))
""",
}


def cold(config: Path, key: str, runs: int = 5) -> dict[str, float]:
    env = {**os.environ, "CIRCLE_CONFIG": str(config), "PYTHONPATH": str(ROOT), "CIRCLE_LOG_LEVEL": "WARNING"}
    out = {}
    for name, code in COLD.items():
        times = []
        for _ in range(runs):
            res = subprocess.run(
                [sys.executable, "-c", f"KEY = {key!r}\n" + code],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
                check=True,
            )
            times.append(json.loads(res.stdout.strip().splitlines()[-1])["ms"])
        out[name] = round(statistics.median(times), 1)
    return out


def warm(url: str, config: Path, key: str, n: int) -> dict[str, dict[str, float]]:
    from core.config import load_config
    from core.http_api import HttpApi, HttpRequest
    from core.runtime import Circle

    circle = Circle.from_config(load_config(config))
    api = HttpApi(circle)
    store = circle.store("s3")
    small, big = os.urandom(KiB), os.urandom(MiB)
    store.put("warm/small", small)
    headers = {"x-api-key": key}
    session = requests.Session()
    results: dict[str, list[float]] = {
        k: [] for k in ("get_direct", "get_inproc", "get_server", "put_direct", "put_inproc", "put_server")
    }

    def timed(name: str, fn: Any) -> None:
        t = time.perf_counter()
        fn()
        results[name].append(time.perf_counter() - t)

    def get_inproc() -> None:
        r = api.handle(HttpRequest("GET", "/stores/s3/objects/warm%2Fsmall", {}, headers))
        assert r.status == 200 and len(r.body_bytes()) == KiB

    def put_inproc() -> None:
        r = api.handle(HttpRequest("PUT", "/stores/s3/objects/warm%2Fbig-api", {}, headers, big))
        assert r.status == 200

    def get_server() -> None:
        r = session.get(f"{url}/stores/s3/objects/warm%2Fsmall", headers=headers, timeout=30)
        assert r.status_code == 200 and len(r.content) == KiB

    def put_server() -> None:
        r = session.put(f"{url}/stores/s3/objects/warm%2Fbig-srv", data=big, headers=headers, timeout=30)
        assert r.status_code == 200

    for _ in range(10):  # warm every path (connections, caches) before measuring
        get_inproc()
        get_server()
        store.get("warm/small").read()
    for _ in range(n):  # interleaved: the same moment's emulator for each variant
        timed("get_direct", lambda: store.get("warm/small").read())
        timed("get_inproc", get_inproc)
        timed("get_server", get_server)
    for _ in range(max(20, n // 4)):
        timed("put_direct", lambda: store.put("warm/big-direct", big))
        timed("put_inproc", put_inproc)
        timed("put_server", put_server)
    return {
        k: {"p50_ms": round(pct(v, 0.5), 2), "p99_ms": round(pct(v, 0.99), 2), "n": len(v)} for k, v in results.items()
    }


@contextlib.contextmanager
def _memory_api(url: str) -> Iterator[tuple[Any, Any, str]]:
    """A runtime with one memory store ``m`` (``url``) holding a 1 KiB ``a/b``, an API key granted read
    on it (kept in a file secret store), and the key as presented: (circle, store, key)."""
    from core.config import parse_config
    from core.http_api.apikeys import issue
    from core.runtime import Circle
    from core.secrets import open_secrets

    with tempfile.TemporaryDirectory() as d:
        secrets = f"file://{d}/s.json"
        presented, doc = issue("b")
        open_secrets(secrets).put("k", doc)
        config = {
            "secrets": {"url": secrets},
            "stores": {"m": {"url": url}},
            "http": {"api_keys": ["k"], "grants": [{"principal": "key:b", "stores": ["m"], "actions": ["read"]}]},
        }
        circle = Circle.from_config(parse_config(config))
        store = circle.store("m")
        store.put("a/b", os.urandom(KiB))
        yield circle, store, presented


def overhead_us(n: int = 3000) -> dict[str, float]:
    """The API's own cost per 1 KiB GET (auth with an API key, routing, conversion) over a memory store,
    where the storage call itself is nearly free: ``HttpApi.handle`` minus ``ObjectStore.get``."""
    from core.http_api import HttpApi, HttpRequest

    with _memory_api("memory://bench") as (circle, store, presented):
        api = HttpApi(circle)
        req = HttpRequest("GET", "/stores/m/objects/a%2Fb", {}, {"x-api-key": presented})
        for _ in range(200):
            api.handle(req).body_bytes()
            store.get("a/b").read()
        t = time.perf_counter()
        for _ in range(n):
            store.get("a/b").read()
        direct = (time.perf_counter() - t) / n
        t = time.perf_counter()
        for _ in range(n):
            api.handle(req).body_bytes()
        through = (time.perf_counter() - t) / n
    return {
        "direct_us": round(direct * 1e6, 1),
        "api_us": round(through * 1e6, 1),
        "overhead_us": round((through - direct) * 1e6, 1),
    }


def adapter_overhead_us(n: int = 2000) -> dict[str, dict[str, float]]:
    """Each adapter's own conversion per 1 KiB GET on a memory store (the platform's request object in,
    its answer out, ``HttpApi.serve`` with the monitor flush in between), next to ``ObjectStore.get`` and
    ``HttpApi.handle`` measured in the same loop: Lambda (an API Gateway v2 event from the recorded
    sample -> ``aws_lambda.http``), Azure (``func.HttpRequest`` -> ``azure_functions.http``). GCP's Flask
    conversion is measured through the real server in ``warm``."""
    import io

    import azure.functions as func

    from aws_lambda import http as lambda_http
    from azure_functions import http as azure_http
    from core.http_api import AZURE_LIMITS, LAMBDA_LIMITS, HttpApi, HttpRequest

    sample = json.loads((ROOT / "tests/events/data/powertools_apiGatewayProxyV2Event.json").read_text())
    with _memory_api("memory://bench-adapters") as (circle, store, presented):
        path, headers = "/stores/m/objects/a%2Fb", {"x-api-key": presented}
        core_api = HttpApi(circle)
        lambda_api, azure_api = HttpApi(circle, limits=LAMBDA_LIMITS), HttpApi(circle, limits=AZURE_LIMITS)
        event = {**sample, "rawPath": path, "rawQueryString": "", "headers": headers, "body": None}
        event["requestContext"] = {**sample["requestContext"], "http": {**sample["requestContext"]["http"]}}
        event["requestContext"]["http"].update(method="GET", path=path)
        event.pop("queryStringParameters", None), event.pop("pathParameters", None), event.pop("cookies", None)
        req = HttpRequest("GET", path, {}, headers)

        def direct() -> None:
            store.get("a/b").read()

        def handle() -> None:
            core_api.handle(req).body_bytes()

        def via_lambda() -> None:
            result = lambda_http.to_result(lambda_api.serve(lambda_http.to_request(event)))
            assert result["statusCode"] == 200

        def via_azure() -> None:
            azure_req = func.HttpRequest(
                method="GET", url="https://x.azurewebsites.net/api/v1" + path, headers=headers, body=b""
            )
            resp = azure_api.serve(azure_http.to_request(azure_req))
            answer = func.HttpResponse(resp.body_bytes(), status_code=resp.status, headers=dict(resp.headers))
            assert answer.status_code == 200

        variants = {"direct": direct, "handle": handle, "lambda": via_lambda, "azure": via_azure}
        samples: dict[str, list[float]] = {k: [] for k in variants}
        with contextlib.redirect_stdout(io.StringIO()):  # the EMF lines a flush prints on Lambda
            for _ in range(100):
                for fn in variants.values():
                    fn()
            for _ in range(n):  # interleaved, so each variant sees the same moment of the machine
                for name, fn in variants.items():
                    t = time.perf_counter()
                    fn()
                    samples[name].append(time.perf_counter() - t)
    return {
        name: {"p50_us": round(pct(v, 0.5) * 1e3, 1), "p99_us": round(pct(v, 0.99) * 1e3, 1)}
        for name, v in samples.items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--warm", type=int, default=200)
    args = parser.parse_args(argv)
    emu = emulators.start()
    proc = None
    try:
        with tempfile.TemporaryDirectory() as d:
            tmp = Path(d)
            config, _, key = setup(emu, tmp)
            os.environ.update(emu.env())
            proc, url = start_server(config, tmp)

            report: dict[str, Any] = {}
            report["overhead_memory_store"] = overhead_us()
            report["adapters_memory_store"] = adapter_overhead_us()
            report["warm"] = warm(url, config, key, args.warm)
            from core.config import load_config
            from core.runtime import Circle

            Circle.from_config(load_config(config)).store("s3").put("cold/k", os.urandom(KiB))
            report["cold_ms"] = cold(config, key)
            report["load"] = load(url, key, args.seconds, args.clients)
            w = report["warm"]
            report["api_share_p50"] = {
                "get_inproc": round(
                    (w["get_inproc"]["p50_ms"] - w["get_direct"]["p50_ms"]) / w["get_direct"]["p50_ms"], 3
                ),
                "put_inproc": round(
                    (w["put_inproc"]["p50_ms"] - w["put_direct"]["p50_ms"]) / w["put_direct"]["p50_ms"], 3
                ),
                "get_server": round(
                    (w["get_server"]["p50_ms"] - w["get_direct"]["p50_ms"]) / w["get_direct"]["p50_ms"], 3
                ),
                "put_server": round(
                    (w["put_server"]["p50_ms"] - w["put_direct"]["p50_ms"]) / w["put_direct"]["p50_ms"], 3
                ),
            }
            print(json.dumps(report, indent=2))
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)
        emu.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
