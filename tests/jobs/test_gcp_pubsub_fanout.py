"""GCP fan-out through a Pub/Sub stand-in and functions-framework: the ``scheduled`` function, served by
functions-framework as Cloud Functions serves it, publishes one range message per key range through the
Pub/Sub REST API (``PUBSUB_EMULATOR_HOST`` points it at a loopback stand-in that records what is
published); each recorded message is then pushed back as the messagePublished CloudEvent Eventarc would
deliver, and the ranges converge with their own checkpoints."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.e2e import replication_rig
from tests.jobs.support import contents

pytestmark = pytest.mark.xdist_group("jobs-emulators")
ROOT = Path(__file__).resolve().parents[2]


class PubSubStandIn:
    """``POST /v1/projects/<p>/topics/<t>:publish`` answered as Pub/Sub does; messages are kept."""

    def __init__(self) -> None:
        self.published: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                ok = self.path.startswith("/v1/projects/") and self.path.endswith(":publish")
                ids = []
                for message in body.get("messages", []) if ok else []:
                    ids.append(str(len(outer.published) + 1))
                    outer.published.append({"topic": self.path[4:-8], **message, "messageId": ids[-1]})
                answer = json.dumps({"messageIds": ids}).encode()
                self.send_response(200 if ok else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def pubsub() -> Iterator[PubSubStandIn]:
    stand_in = PubSubStandIn()
    yield stand_in
    stand_in.close()


def _push(client: Any, message: dict[str, Any]) -> int:
    headers = {
        "ce-id": uuid.uuid4().hex,
        "ce-specversion": "1.0",
        "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
        "ce-source": "//pubsub.googleapis.com/projects/circle-test/topics/circle-jobs",
        "Content-Type": "application/json",
    }
    data = {"message": message, "subscription": "projects/circle-test/subscriptions/eventarc"}
    return int(client.post("/", headers=headers, data=json.dumps(data)).status_code)


def test_fanout_through_pubsub_and_functions_framework(
    emulators: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pubsub: PubSubStandIn
) -> None:
    import base64

    import functions_framework

    from gcp_functions import main

    clouds = replication_rig.build(emulators, tmp_path, monkeypatch, source="gs")
    for i in range(9):
        clouds.gs.put(f"data/{i:02d}.txt", f"ranged {i}".encode())
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", pubsub.host)
    monkeypatch.setenv("CIRCLE_JOBS_TOPIC", "projects/circle-test/topics/circle-jobs")
    main.reset_runtime()
    app = functions_framework.create_app(
        target="scheduled", source=str(ROOT / "gcp_functions" / "main.py"), signature_type="cloudevent"
    )
    client = app.test_client()
    request = base64.b64encode(json.dumps({"job": "fanout", "ranges": 3}).encode()).decode()
    assert _push(client, {"data": request, "messageId": "0"}) == 200
    assert len(pubsub.published) == 3
    assert {m["topic"] for m in pubsub.published} == {"projects/circle-test/topics/circle-jobs"}
    for message in list(pubsub.published):
        assert _push(client, message) == 200
    expected = {f"replica/data/{i:02d}.txt": f"ranged {i}".encode() for i in range(9)}
    assert contents(clouds.s3) == expected and contents(clouds.az) == expected
    assert len([o for o in clouds.gs.list(".circle/checkpoints/")]) == 3
    assert len(pubsub.published) == 3  # every range finished: nothing was published again
    main.reset_runtime()
