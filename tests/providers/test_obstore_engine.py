"""``engine = "obstore"`` on moto and Azurite: which requests obstore sends and which stay on the SDK.

The conformance and retry suites run whole on the ``s3+obstore`` and ``azure+obstore`` rigs; this file
checks the routing itself, by the User-Agent each request reaches the emulator with (through a
loopback proxy), and the engine's own errors.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from core.storage import InvalidArgument, ObjectStore, RetryPolicy, TransientError, open_store
from core.storage.providers import obstore_io
from scripts.emulators import free_port
from tests.fakes.fault_proxy import FaultProxy, Seen
from tests.rigs import RigContext
from tests.rigs import azure as azure_rig
from tests.rigs import s3 as s3_rig

pytestmark = pytest.mark.emulator
MiB = 1024 * 1024
RIGS: dict[str, tuple[Callable[..., ObjectStore], str]] = {
    "s3": (s3_rig.make, "s3_endpoint"),
    "azure": (azure_rig.make, "azure_endpoint"),
}
SMALL_LIMIT = 256 * 1024


class Routed:
    """A store with ``engine = "obstore"`` behind a proxy that logs who sent each request."""

    def __init__(self, store: ObjectStore, proxy: FaultProxy) -> None:
        self.store, self.proxy = store, proxy

    def senders(self, op: Callable[[], object]) -> list[tuple[str, str]]:
        """(method, "obstore" or "sdk") of every request ``op`` made."""
        self.proxy.clear()
        op()
        return [(seen.method, _sender(seen)) for seen in self.proxy.requests]


def _sender(seen: Seen) -> str:
    agent = next((v for k, v in seen.headers.items() if k.lower() == "user-agent"), "")
    return "obstore" if agent.startswith("object_store") else "sdk"


@pytest.fixture(params=list(RIGS))
def routed(request: pytest.FixtureRequest, rig_context: RigContext) -> Iterator[Routed]:
    make, upstream = RIGS[str(request.param)]
    with FaultProxy(getattr(rig_context.emulators(), upstream)) as proxy:
        limit = {"multipart_threshold": SMALL_LIMIT} if request.param == "s3" else {"single_put_threshold": SMALL_LIMIT}
        store = make(rig_context, via=proxy.url, engine="obstore", **limit)
        try:
            yield Routed(store, proxy)
        finally:
            store.close()


def test_small_put_and_whole_read_go_through_obstore(routed: Routed) -> None:
    store = routed.store
    assert routed.senders(lambda: store.put("a/small.txt", b"hello", metadata={"origin": "x"})) == [("PUT", "obstore")]
    read: list[bytes] = []
    assert routed.senders(lambda: read.append(store.get("a/small.txt").read())) == [("GET", "obstore")]
    assert read == [b"hello"]
    info = store.head("a/small.txt")  # the SDK reads back what obstore wrote: content type and metadata
    assert info.metadata == {"origin": "x"} and info.content_type == "application/octet-stream"


def test_create_only_put_goes_through_obstore_and_refuses_an_existing_key(routed: Routed) -> None:
    store = routed.store
    assert routed.senders(lambda: store.put("a/once", b"1", if_none_match="*")) == [("PUT", "obstore")]
    with pytest.raises(FileExistsError):
        store.put("a/once", b"2", if_none_match="*")
    assert store.get("a/once").read() == b"1"


def test_a_large_read_is_one_obstore_chunk_then_the_sdk_pinned_to_its_etag(routed: Routed) -> None:
    store = routed.store
    data = bytes(range(256)) * (3 * MiB // 256)
    store.put("big/obj", data)
    out: list[bytes] = []
    senders = routed.senders(lambda: out.append(store.get("big/obj").read()))
    assert out == [data]
    assert senders[0] == ("GET", "obstore")
    assert senders[1:] and all(sender == "sdk" for _, sender in senders[1:])
    first, rest = routed.proxy.requests[0], routed.proxy.requests[1]
    assert {k.lower(): v for k, v in first.headers.items()}["range"] == f"bytes=0-{obstore_io.FIRST_CHUNK - 1}"
    later = {k.lower(): v for k, v in rest.headers.items()}
    assert later.get("range", later.get("x-ms-range", "")).startswith(f"bytes={obstore_io.FIRST_CHUNK}-")
    assert later.get("if-match") == f'"{store.head("big/obj").etag}"'


def test_ranged_reads_bodies_past_the_limit_and_empty_objects_stay_correct(routed: Routed) -> None:
    store = routed.store
    store.put("r/obj", b"0123456789")
    assert routed.senders(lambda: store.get("r/obj", start=2, end=5).read()) == [("GET", "sdk")]
    assert store.get("r/obj", start=2, end=5).read() == b"234"
    big = b"x" * (SMALL_LIMIT + 1)
    senders = routed.senders(lambda: store.put("r/big", iter([big])))
    assert senders and all(sender == "sdk" for _, sender in senders)  # multipart / block list
    assert store.get("r/big").read() == big
    store.put("r/empty", b"")
    senders = routed.senders(lambda: store.get("r/empty").read())
    assert senders[0] == ("GET", "obstore") and store.get("r/empty").read() == b""


@pytest.mark.parametrize("key", ["odd//double", "odd/trailing/", "odd/tab\tkey"])
def test_keys_object_store_would_rewrite_take_the_sdk_path(routed: Routed, key: str) -> None:
    store = routed.store
    senders = routed.senders(lambda: store.put(key, b"exact"))
    assert senders == [("PUT", "sdk")]
    assert store.get(key).read() == b"exact"
    assert key in [info.key for info in store.list("odd/")]


def test_native_key_matches_what_object_store_accepts() -> None:
    for key in ["a", "a/b.txt", "sp ace+ü%#?x", "dir/file"]:
        assert obstore_io.native_key(key), key
    for key in ["", "/lead", "trail/", "a//b", "a/./b", "a/../b", "x\x01y", "del\x7f"]:
        assert not obstore_io.native_key(key), key


def test_an_unknown_engine_is_refused_before_any_request() -> None:
    with pytest.raises(InvalidArgument, match="unknown engine 'rust'"):
        open_store("s3://bucket", engine="rust", region="us-east-1")
    with pytest.raises(InvalidArgument, match="engine"):
        open_store("gs://bucket", engine="obstore")  # GCS has no obstore path


def test_a_profile_whose_create_only_header_obstore_cannot_send_is_refused(rig_context: RigContext) -> None:
    with pytest.raises(InvalidArgument, match="alibaba profile's create-only header"):
        s3_rig.make(rig_context, profile="alibaba", engine="obstore")


def test_a_refused_connection_is_transient_and_retried() -> None:
    port = free_port()
    store = open_store(
        f"s3://nowhere{port}",
        endpoint_url=f"http://127.0.0.1:{port}",
        region="us-east-1",
        access_key_id="testing",
        secret_access_key="testing",
        engine="obstore",
        retry=RetryPolicy(max_attempts=2, initial_backoff=0.001, max_backoff=0.002),
    )
    with pytest.raises(TransientError) as caught:
        store.put("k", b"x")
    assert "testing" not in str(caught.value) and "Debug source" not in str(caught.value)


def test_without_obstore_installed_the_error_says_what_to_install(tmp_path: Path) -> None:
    script = (
        "import sys; sys.modules['obstore'] = None\n"
        "from core.storage import open_store\n"
        "from core.storage.registry import ProviderNotInstalled\n"
        "try:\n"
        "    open_store('s3://b', engine='obstore', region='us-east-1')\n"
        "except ProviderNotInstalled as exc:\n"
        "    print(exc)\n"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True, check=True)
    assert "pip install 'circle-core[obstore]'" in out.stdout


def test_the_endpoint_comes_from_the_sdk_client_so_aws_endpoint_url_applies(
    rig_context: RigContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store opened from the environment alone (the command line's ``s3://bucket``) reaches moto
    through obstore too, not AWS."""
    endpoint = rig_context.emulators().s3_endpoint
    bucket = rig_context.unique()
    s3_rig.admin_client(endpoint).create_bucket(Bucket=bucket)
    with FaultProxy(endpoint) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        store = open_store(f"s3://{bucket}", region="us-east-1", engine="obstore", **s3_rig.CREDENTIALS)
        routed = Routed(store, proxy)
        assert routed.senders(lambda: store.put("env/k", b"v")) == [("PUT", "obstore")]
        assert store.get("env/k").read() == b"v"
        store.close()


def test_the_command_line_engine_flag_reaches_url_and_configured_stores(tmp_path: Path) -> None:
    from circle_cli.session import Session

    config = tmp_path / "circle.toml"
    config.write_text('[stores.mem]\nurl = "memory://m"\n[stores.bucket]\nurl = "s3://b"\nregion = "us-east-1"\n')
    session = Session(config_path=str(config), engine="obstore")
    assert session._engine_for("s3") == {"engine": "obstore"} and session._engine_for("az") == {"engine": "obstore"}
    assert session._engine_for("memory") == {} and session._engine_for("gs") == {}  # no such option there
    store = session.open_store("bucket")
    assert type(store._backend).__name__ == "ObstoreS3Backend"
    assert type(Session(config_path=str(config)).open_store("bucket")._backend).__name__ == "S3Backend"
    session.close()
