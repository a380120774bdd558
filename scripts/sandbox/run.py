"""The sandbox itself: local clouds, the three adapters driven as their clouds drive them, a demo
writer, the checks, the live view, and a stop that leaves nothing behind."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from core.config import load_config
from core.handlers.routing import routes_for_key
from core.runtime import Circle
from core.storage import ObjectStore
from scripts import emulators
from scripts.emulators import AZURITE_ACCOUNT, AZURITE_KEY, ROOT, free_port
from scripts.sandbox.processes import Processes
from scripts.sandbox.report import REPORT_FD
from scripts.sandbox.view import CLOUDS, Expectation, Stats
from scripts.sandbox.watchers import AzureEventGrid, GcsEventarc

CONFIG_TEMPLATE = Path(__file__).with_name("circle.toml")
SQS_QUEUE = "circle-sandbox-s3-events"
AZURE_QUEUE = "circle-storage-events"  # the app setting CIRCLE_EVENTS_QUEUE's default value
HTTP_KEY_SECRET = "circle-sandbox-http-key"
HTTP_KEY_ID = "sandbox"
HTTP_TABLE = f"""
# Added by the sandbox because this checkout has the HTTP API: one development key (this run only).
[http]
api_keys = ["{HTTP_KEY_SECRET}"]

[[http.grants]]
principal = "key:{HTTP_KEY_ID}"
stores = ["*"]
actions = ["read", "write", "delete", "presign"]
"""


#: how long the summary waits for the functions' outcome lines of replicas already seen
OUTCOME_WAIT_SECONDS = 15.0
#: how long a signal may take to unwind the main thread before a watchdog thread cleans up instead
WATCHDOG_SECONDS = 10.0


class Stopped(BaseException):  # not an Exception: no library retry loop may swallow it
    """SIGTERM (or SIGINT) arrived: unwind and clean up."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class Sandbox:
    def __init__(self, *, duration: float, forever: bool, out: Any = sys.stdout) -> None:
        self.duration, self.forever = duration, forever
        self.stats = Stats(out=out)
        self.procs = Processes()
        self.tmp = Path(tempfile.mkdtemp(prefix="circle-sandbox-"))
        self.emu: emulators.Emulators | None = None
        self.watchers: list[Any] = []
        self.readers: list[threading.Thread] = []
        self.stores: dict[str, ObjectStore] = {}
        self.circle: Circle | None = None
        self.http_server: Any = None
        self.http_url, self.http_key = "", ""
        self.stopping = threading.Event()

    # -- start -------------------------------------------------------------------------------------
    def start(self) -> None:
        say = self.stats.say
        self.emu = emulators.start()
        queue_port = free_port()
        self.procs.spawn(
            "azurite-queue",
            [
                str(emulators.azurite_binary().with_name("azurite-queue")),
                "--queueHost",
                "127.0.0.1",
                "--queuePort",
                str(queue_port),
                "--location",
                str(self.tmp / "azurite-queue"),
                "--skipApiVersionCheck",
                "--loose",
                "--silent",
            ],
            log=self.tmp / "azurite-queue.log",
            env=dict(os.environ),
            cwd=ROOT,
        )
        self.queue_endpoint = f"http://127.0.0.1:{queue_port}"
        emulators._wait_http(
            f"{self.queue_endpoint}/{AZURITE_ACCOUNT}?comp=list",
            self.procs.started[-1][1],
            self.tmp / "azurite-queue.log",
        )
        say(
            f"local clouds up: moto (S3, SQS, Secrets Manager) {self.emu.s3_endpoint}, Azurite blob "
            f"{self.emu.azure_endpoint} and queue {self.queue_endpoint}, fake-gcs-server {self.emu.gcs_endpoint}"
        )
        self.config_path = self.write_config()
        self.config = load_config(self.config_path)
        # The runtime (Circle) registers [secrets] url behind secret://vault/ itself; the demo writer and the
        # printed one-liners open stores straight from the configuration, which look up CIRCLE_SECRETS_VAULT.
        os.environ["CIRCLE_SECRETS_VAULT"] = self.config.secrets_url or "aws-sm://us-east-1"
        self.env = self.child_env()
        os.environ.update({k: v for k, v in self.env.items() if k != "PYTHONPATH"})
        self.store_secrets()
        self.create_buckets()
        self.circle = Circle.from_config(self.config)  # resolves the secret:// references, as the adapters do
        self.stores = {name: self.circle.store(name) for name in CLOUDS}
        queue_url = self.wire_s3_to_sqs()
        azure_queue = self.azure_queues()
        say(f"buckets: {', '.join(s.url for s in self.stores.values())}; config {self.config_path}")
        self.start_host("aws", "scripts.sandbox.aws_host", {"CIRCLE_SANDBOX_QUEUE_URL": queue_url})
        self.start_host("azure", "scripts.sandbox.azure_host", {})
        function_url = self.start_functions_framework()
        self.watchers = [
            AzureEventGrid(
                self.stores["azure"],
                self.bucket("azure"),
                self.stats.report,
                queue=azure_queue,
                blob_endpoint=f"{self.emu.azure_endpoint}/{AZURITE_ACCOUNT}",
            ),
            GcsEventarc(self.stores["gcp"], self.bucket("gcp"), self.stats.report, function_url=function_url),
        ]
        for watcher in self.watchers:
            watcher.start()
        self.serve_http_api()
        say(
            "delivery: aws = moto S3 notifications -> SQS -> event source mapping stand-in -> "
            "aws_lambda.handlers.storage_event; azure = Event Grid stand-in (Azurite emits no events) -> "
            "Azurite queue -> worker-indexed storage_queue; gcp = Eventarc stand-in (fake-gcs-server emits "
            "none) -> functions-framework server -> gcp_functions.main.storage_event"
        )

    def write_config(self) -> Path:
        assert self.emu is not None
        text = (
            CONFIG_TEMPLATE.read_text()
            .replace("@S3_ENDPOINT@", self.emu.s3_endpoint)
            .replace("@AZURE_CONNECTION_STRING@", self.emu.azure_connection_string)
            .replace("@GCS_ENDPOINT@", self.emu.gcs_endpoint)
        )
        if self.http_available():
            text += HTTP_TABLE  # the HTTP API's auth: the sandbox's development key (secret below)
        path = self.tmp / "circle.toml"
        path.write_text(text)
        return path

    @staticmethod
    def http_available() -> bool:
        return importlib.util.find_spec("core.http_api") is not None

    def bucket(self, name: str) -> str:
        return self.config.stores[name].url.split("://", 1)[1].split("/", 1)[0]

    def child_env(self) -> dict[str, str]:
        assert self.emu is not None
        queue_conn = (
            f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
            f"BlobEndpoint={self.emu.azure_endpoint}/{AZURITE_ACCOUNT};"
            f"QueueEndpoint={self.queue_endpoint}/{AZURITE_ACCOUNT};"
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("CIRCLE_") or k == "CIRCLE_SECRETS_VAULT"}
        env.update(self.emu.env())
        env.update(
            CIRCLE_CONFIG=str(self.config_path),
            PYTHONPATH=str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else ""),
            AzureWebJobsStorage=queue_conn,
            CIRCLE_EVENTS_QUEUE=AZURE_QUEUE,
            GOOGLE_CLOUD_PROJECT="circle-sandbox",
            POWERTOOLS_SERVICE_NAME="circle-sandbox",
            POWERTOOLS_METRICS_NAMESPACE="CircleSandbox",
        )
        return env

    def store_secrets(self) -> None:
        """The S3 credentials the configuration references, in moto's Secrets Manager."""
        from core.secrets import open_secrets

        secrets = open_secrets(self.config.secrets_url or "aws-sm://us-east-1")
        secrets.put("circle-sandbox-s3", {"access_key_id": "testing", "secret_access_key": "testing"})
        self.stats.say(f"secrets: circle-sandbox-s3 stored in moto's Secrets Manager ({self.config.secrets_url})")

    def create_buckets(self) -> None:
        """Buckets are infrastructure: each SDK creates its own, as the deployment would."""
        import boto3
        from azure.storage.blob import BlobServiceClient
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage as gcs

        assert self.emu is not None
        buckets = {name: self.bucket(name) for name in CLOUDS}
        boto3.client("s3").create_bucket(Bucket=buckets["aws"])
        BlobServiceClient.from_connection_string(self.emu.azure_connection_string).create_container(buckets["azure"])
        gcs.Client(
            project="circle-sandbox",
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": self.emu.gcs_endpoint},
        ).create_bucket(buckets["gcp"])

    def wire_s3_to_sqs(self) -> str:
        """The real notification path moto implements: bucket notification configuration -> SQS."""
        import boto3

        sqs = boto3.client("sqs")
        url = sqs.create_queue(QueueName=SQS_QUEUE, Attributes={"VisibilityTimeout": "30"})["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        boto3.client("s3").put_bucket_notification_configuration(
            Bucket=self.bucket("aws"),
            NotificationConfiguration={
                "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]}]
            },
        )
        return str(url)

    def azure_queues(self) -> Any:
        from scripts.sandbox.azure_host import queue_client

        os.environ["AzureWebJobsStorage"] = self.env["AzureWebJobsStorage"]  # noqa: SIM112 - the host's name
        for name in (AZURE_QUEUE, f"{AZURE_QUEUE}-poison"):
            queue_client(name).create_queue()
        return queue_client(AZURE_QUEUE)

    def start_host(self, cloud: str, module: str, extra: dict[str, str]) -> None:
        read_fd, write_fd = os.pipe()
        self.procs.spawn(
            f"{cloud}-host",
            [sys.executable, "-m", module],
            log=self.tmp / f"{cloud}-host.log",
            env={**self.env, **extra, REPORT_FD: str(write_fd)},
            cwd=ROOT,
            pass_fds=(write_fd,),
        )
        os.close(write_fd)
        ready = threading.Event()

        def read() -> None:
            with os.fdopen(read_fd) as lines:
                for line in lines:
                    msg = json.loads(line)
                    self.stats.report(msg.pop("kind"), **msg)
                    if msg.get("cloud") == cloud:
                        ready.set()

        thread = threading.Thread(target=read, name=f"{cloud}-reports", daemon=True)
        thread.start()
        self.readers.append(thread)
        if not ready.wait(60):
            raise RuntimeError(f"the {cloud} host did not start; log:\n{self.log_tail(cloud + '-host')}")

    def start_functions_framework(self) -> str:
        """The real functions-framework server, as Cloud Functions (2nd gen) runs it."""
        port = free_port()
        self.procs.spawn(
            "functions-framework",
            [
                sys.executable,
                "-m",
                "functions_framework",
                "--target",
                "storage_event",
                "--source",
                str(ROOT / "gcp_functions" / "main.py"),
                "--signature-type",
                "cloudevent",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            log=self.tmp / "functions-framework.log",
            env={**self.env, "K_SERVICE": "storage-event", "K_REVISION": "sandbox"},
            cwd=ROOT,
        )
        url = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(url, timeout=1).close()
                break
            except urllib.error.HTTPError:
                break  # it answered
            except OSError:
                if time.monotonic() > deadline or self.procs.exited():
                    log = self.log_tail("functions-framework")
                    raise RuntimeError(f"functions-framework did not start:\n{log}") from None
                time.sleep(0.1)
        thread = threading.Thread(target=self.tail_gcp_log, name="gcp-log", daemon=True)
        thread.start()
        self.stats.say(
            f"gcp functions-framework server ready on {url} (pid {self.procs.pids()['functions-framework']})"
        )
        return url

    def tail_gcp_log(self) -> None:
        """The server's Cloud Logging JSON lines: the core's one line per event carries the outcomes."""
        with open(self.tmp / "functions-framework.log") as log:
            partial = ""  # a line the server is still writing: kept until its newline arrives
            while not self.stopping.is_set():
                partial += log.readline()
                if not partial.endswith("\n"):
                    time.sleep(0.1)
                    continue
                line, partial = partial, ""
                if line.startswith("{"):
                    try:
                        record = json.loads(line)
                    except ValueError:
                        continue
                    outcomes = record.get("outcomes") or record.get("jsonPayload", {}).get("outcomes")
                    if outcomes is not None:
                        self.stats.report("outcome", cloud="gcp", key=record.get("key", ""), outcomes=outcomes)

    def serve_http_api(self) -> None:
        """Contract H1: ``core.http_api.wsgi_app(circle)``, served on loopback when it exists, with a
        development API key minted for this run (its HMAC digest in the secrets store, as deployed)."""
        if not self.http_available():
            self.stats.say("HTTP API: not available in this checkout (core.http_api does not exist yet)")
            return
        from wsgiref.simple_server import WSGIRequestHandler, make_server

        from core.http_api import wsgi_app  # type: ignore[import-not-found, unused-ignore]
        from core.http_api.apikeys import issue  # type: ignore[import-not-found, unused-ignore]

        key, document = issue(HTTP_KEY_ID)
        assert self.circle is not None and self.circle.secrets is not None
        self.circle.secrets.put(HTTP_KEY_SECRET, document)

        class Quiet(WSGIRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.http_server = make_server("127.0.0.1", free_port(), wsgi_app(self.circle), handler_class=Quiet)
        threading.Thread(target=self.http_server.serve_forever, name="http-api", daemon=True).start()
        host, port = self.http_server.server_address[:2]
        self.http_url, self.http_key = f"http://{host}:{port}", key
        self.stats.say(
            f"HTTP API: {self.http_url}/ (development key, this run only: X-Api-Key: {key}); "
            f"e.g. curl -H 'X-Api-Key: {key}' {self.http_url}/stores/aws/objects"
        )

    def http_smoke(self) -> None:
        """One authenticated request through the served API, reported in the summary."""
        if self.http_server is None:
            return
        request = urllib.request.Request(
            f"{self.http_url}/stores/gcp/objects/from-aws/demo/hello-aws.txt", headers={"X-Api-Key": self.http_key}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                line = f"GET /stores/gcp/objects/from-aws/demo/hello-aws.txt -> {response.status} {response.read()!r}"
        except urllib.error.HTTPError as exc:
            line = f"GET /stores/gcp/objects/from-aws/demo/hello-aws.txt -> {exc.code} {exc.read()[:200]!r}"
        except OSError as exc:
            line = f"HTTP API request failed: {exc}"
        self.stats.http.append(line)

    # -- the demo ------------------------------------------------------------------------------------
    def expect(self, source: str, key: str, body: bytes | None, what: str) -> None:
        written = time.monotonic()
        for route in routes_for_key(self.config, source, key):
            self.stats.expectations.append(
                Expectation(source, key, route.target, route.target_key, body, what, written)
            )

    def check(self) -> bool:
        """Look at every replica not yet seen; True when all are as expected."""
        pending = [e for e in self.stats.expectations if e.seen_at is None]
        for e in pending:
            target = self.stores[e.target]
            if e.body is None:
                done = not target.exists(e.target_key)
            else:
                try:
                    with target.get(e.target_key) as reader:
                        done = reader.read() == e.body
                except FileNotFoundError:
                    done = False
            if done:
                e.seen_at = time.monotonic()
                self.stats.seen(e)
        return all(e.seen_at is not None for e in self.stats.expectations)

    def wait_converged(self, until: float) -> bool:
        last = 0.0
        while time.monotonic() < until:
            if self.check():
                return True
            if time.monotonic() - last > 5:
                self.stats.say(self.stats.progress())
                last = time.monotonic()
            self.raise_if_host_died()
            time.sleep(0.2)
        return self.check()

    def wait_reported(self, seconds: float = OUTCOME_WAIT_SECONDS) -> None:
        """Let the functions' outcome lines for the replicas already seen arrive before the summary."""
        deadline = time.monotonic() + seconds
        while (missing := self.stats.unreported()) and time.monotonic() < deadline:
            self.raise_if_host_died()
            time.sleep(0.1)
        if missing:  # coalesced deliveries can make fewer outcomes than changes: say so, do not wait forever
            self.stats.say(f"outcome lines not reported after {seconds:.0f}s: {dict(missing)}")

    def raise_if_host_died(self) -> None:
        for name, code in self.procs.exited():
            raise RuntimeError(f"{name} exited with code {code}; log:\n{self.log_tail(name)}")

    def demo(self) -> bool:
        """Create, overwrite and delete sample files on each cloud; wait for each step to replicate."""
        until = time.monotonic() + self.duration
        steps: list[tuple[str, list[tuple[str, str, bytes | None]]]] = [
            (
                "create",
                [
                    (cloud, key, body)
                    for cloud in CLOUDS
                    for key, body in (
                        (f"demo/hello-{cloud}.txt", f"hello from {cloud}, version 1\n".encode()),
                        (f"demo/report-{cloud}.csv", b"region,count\n" + f"{cloud},42\n".encode() * 200),
                    )
                ],
            ),
            ("overwrite", [(c, f"demo/hello-{c}.txt", f"hello from {c}, version 2\n".encode()) for c in CLOUDS]),
            ("delete", [(c, f"demo/report-{c}.csv", None) for c in CLOUDS]),
        ]
        for step, changes in steps:
            self.stats.say(f"demo: {step} {len(changes)} objects on aws, azure and gcp")
            for cloud, key, body in changes:
                store = self.stores[cloud]
                if body is None:
                    store.delete(key)
                else:
                    content_type = "text/csv" if key.endswith(".csv") else "text/plain"
                    store.put(key, body, content_type=content_type, metadata={"written-by": "sandbox-demo"})
                self.expect(cloud, key, body, {"create": "created", "overwrite": "overwritten"}.get(step, "deleted"))
            if not self.wait_converged(until):
                return False
            self.stats.say(self.stats.progress())
        self.wait_reported()
        return True

    def probe(self) -> None:
        """Contract J1: ``core.handlers.probe.probe(circle)``, when it exists."""
        if importlib.util.find_spec("core.handlers.probe") is None:
            self.stats.probe("not available in this checkout (core.handlers.probe does not exist yet)")
            return
        try:
            from core.handlers.probe import probe  # type: ignore[import-not-found, unused-ignore]

            result = probe(self.circle).as_dict()
        except Exception as exc:
            self.stats.probe(f"failed: {type(exc).__name__}: {exc}", up=False)
            return
        for store in result.get("stores", []):
            latency = ", ".join(f"{op} {ms:.0f} ms" for op, ms in (store.get("latency_ms") or {}).items())
            error = f": {store.get('failed_operation')} {store.get('error')}" if store.get("error") else ""
            self.stats.probe(
                f"{store.get('store')} {store.get('status')}{error} ({latency})", store.get("status") == "up"
            )
        for secret in result.get("secrets", []):
            self.stats.probe(
                f"{secret.get('reference')} readable={secret.get('readable')}", bool(secret.get("readable"))
            )
        self.stats.probe(json.dumps({k: v for k, v in result.items() if k not in ("stores", "secrets")}))

    # -- stop ----------------------------------------------------------------------------------------
    def stop(self) -> None:
        self.stopping.set()
        for watcher in self.watchers:
            watcher.stopping.set()
        if self.http_server is not None:
            self.http_server.shutdown()
            self.http_server.server_close()
        for watcher in self.watchers:
            watcher.join(5)
        if self.circle is not None:
            self.circle.close()
        self.procs.stop()
        if self.emu is not None:
            self.emu.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def try_it(self) -> str:
        """How to write to the sandbox's buckets from another shell."""
        assert self.emu is not None
        exports = "\n".join(f"  export {k}='{v}'" for k, v in self.emu.env().items())
        return (
            f"{exports}\n  export CIRCLE_CONFIG='{self.config_path}' CIRCLE_SECRETS_VAULT='{self.config.secrets_url}'\n"
            '  PYTHONPATH=. .venv/bin/python -c "from core.config import load_config; from core.runtime import Circle; '
            "Circle.from_config(load_config()).store('azure').put('demo/mine.txt', b'hi')\"\n"
            "  (any key under demo/ on aws, azure or gcp is replicated to the other two under from-<cloud>/)"
        )

    def emulator_pids(self) -> dict[str, int]:
        procs = self.emu._procs if self.emu is not None else []
        return {name: p.pid for name, p in zip(("moto", "azurite-blob", "fake-gcs-server"), procs, strict=False)}

    def log_tail(self, name: str) -> str:
        path = self.tmp / f"{name}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else "(no log)"


def run(*, duration: float, forever: bool, dashboard: bool = False) -> int:
    """Start, demo, summarise, stop. The exit code: 0 converged, 1 not, 128+signal when stopped.
    ``dashboard``: a live rich table under the progress lines (a terminal only)."""

    unwinding = threading.Event()  # the main thread has reached its clean-up

    def force_stop(signum: int) -> None:
        """The signal's exception did not unwind the main thread in time (swallowed or stuck in a call
        that never returns): clean up from this thread and exit, so nothing is left running."""
        if unwinding.is_set():
            return
        sandbox.stats.say(f"{signal.Signals(signum).name}: stopping everything the sandbox started")
        sandbox.stop()
        sandbox.stats.say(f"stopped: every process ended, {sandbox.tmp} removed")
        os._exit(128 + signum)

    def on_signal(signum: int, _frame: Any) -> None:
        watchdog = threading.Timer(WATCHDOG_SECONDS, force_stop, args=(signum,))
        watchdog.daemon = True
        watchdog.start()
        raise Stopped(signum)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    sandbox = Sandbox(duration=duration, forever=forever)
    code = 1
    live = contextlib.ExitStack()

    def show() -> None:
        if dashboard:
            from scripts.sandbox.dashboard import Dashboard

            live.enter_context(Dashboard(sandbox.stats))

    try:
        sandbox.stats.say(f"starting the sandbox (temp folder {sandbox.tmp}, pid {os.getpid()})")
        sandbox.start()
        sandbox.stats.say(f"running: pids {sandbox.procs.pids() | sandbox.emulator_pids()}")
        show()
        sandbox.demo()
        sandbox.probe()  # while the live view shows: each result is a line, the counts are in its title
        live.close()
        sandbox.http_smoke()
        text, ok = sandbox.stats.summary()
        sandbox.stats.out.write(text + "\n")
        sandbox.stats.out.flush()
        code = 0 if ok else 1
        if forever:
            sandbox.stats.show_outcomes = True
            sandbox.stats.say("--forever: still running; Ctrl-C or SIGTERM stops everything. Write your own files:")
            sandbox.stats.out.write(sandbox.try_it() + "\n")
            show()
            while True:
                time.sleep(5)
                sandbox.check()
                sandbox.raise_if_host_died()
    except Stopped as stop:
        sandbox.stats.say(f"{stop}: stopping everything the sandbox started")
        code = 128 + stop.signum
    finally:
        unwinding.set()
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the cleanup short
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        live.close()
        sandbox.stop()
        sandbox.stats.say(f"stopped: every process ended, {sandbox.tmp} removed")
        for s, handler in previous.items():
            signal.signal(s, handler)
    return code
