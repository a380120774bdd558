"""host.json: schema-style checks of what the Functions host reads (no schema ships offline, so the rules
are written out here from the host.json v2 reference), applied to the real file and to broken copies."""

from __future__ import annotations

import copy
import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
HOST_JSON = ROOT / "host.json"

BUNDLE_ID = "Microsoft.Azure.Functions.ExtensionBundle"
# Top-level keys the host.json 2.x reference documents; anything else is a typo the host ignores silently.
KNOWN_KEYS = {
    "version",
    "aggregator",
    "concurrency",
    "console",
    "customHandler",
    "extensions",
    "extensionBundle",
    "functions",
    "functionTimeout",
    "healthMonitor",
    "logging",
    "managedDependency",
    "retry",
    "singleton",
    "telemetryMode",
    "watchDirectories",
    "watchFiles",
}
LOG_LEVELS = {"Trace", "Debug", "Information", "Warning", "Error", "Critical", "None"}
AT_LEAST_INFORMATION = {"Trace", "Debug", "Information"}
POISON_AFTER = 5  # the Azure queue path's contract: a message that failed five times goes to <queue>-poison
# functionTimeout limits per hosting plan (learn.microsoft.com, "Function app timeout duration"):
# Consumption 10 minutes at most; Flex Consumption 30 minutes by default, unbounded at most. The
# deployment needs a bounded value either way: CIRCLE_TIME_BUDGET_SECONDS is read from it.
CONSUMPTION_MAX_TIMEOUT = timedelta(minutes=10)
FLEX_DEFAULT_TIMEOUT = timedelta(minutes=30)
_RANGE = re.compile(r"^\[(\d+)\.\*,\s*(\d+)\.0\.0\)$")
_TIMESPAN = re.compile(r"^(\d{2}):(\d{2}):(\d{2})$")


def problems(host: dict[str, Any], *, flex: bool = True) -> list[str]:
    """Every way ``host`` breaks the rules the deployment relies on (empty when it is fine); ``flex``:
    the app runs on the Flex Consumption plan (what scripts/deploy.py creates), else on Consumption."""
    out: list[str] = []
    if host.get("version") != "2.0":
        out.append('version must be "2.0"')
    if unknown := set(host) - KNOWN_KEYS:
        out.append(f"unknown top-level keys: {sorted(unknown)}")
    if "functions" in host:
        out.append("functions would restrict which functions the host loads")

    bundle = host.get("extensionBundle") or {}
    if bundle.get("id") != BUNDLE_ID:
        out.append(f"extensionBundle.id must be {BUNDLE_ID}")
    m = _RANGE.match(str(bundle.get("version", "")))
    # Python v2 programming model and the Event Grid trigger need bundle 4.x; a range must not float to 5.
    if not m or int(m.group(1)) != 4 or int(m.group(2)) != 5:
        out.append("extensionBundle.version must be the range [4.*, 5.0.0)")

    t = _TIMESPAN.match(str(host.get("functionTimeout", "")))
    if not t:
        out.append("functionTimeout must be hh:mm:ss")
    else:
        timeout = timedelta(hours=int(t[1]), minutes=int(t[2]), seconds=int(t[3]))
        if timeout <= timedelta(0):
            out.append("functionTimeout must be positive")
        elif not flex and timeout > CONSUMPTION_MAX_TIMEOUT:
            out.append("functionTimeout must be at most 00:10:00 on the Consumption plan")

    logging = host.get("logging") or {}
    levels = logging.get("logLevel") or {}
    if "default" not in levels:
        out.append("logging.logLevel.default is missing")
    if bad := {k: v for k, v in levels.items() if v not in LOG_LEVELS}:
        out.append(f"logging.logLevel has invalid levels: {bad}")
    sampling = (logging.get("applicationInsights") or {}).get("samplingSettings") or {}
    if not isinstance(sampling.get("isEnabled"), bool):
        out.append("logging.applicationInsights.samplingSettings.isEnabled must be a boolean")
    rate = sampling.get("maxTelemetryItemsPerSecond")
    if not isinstance(rate, int) or isinstance(rate, bool) or rate <= 0:
        out.append("samplingSettings.maxTelemetryItemsPerSecond must be a positive integer")
    # Requests and exceptions are never sampled away: every invocation and failure stays countable; nor are
    # traces (log lines): each event's outcome line must reach Application Insights.
    excluded = set(str(sampling.get("excludedTypes", "")).split(";"))
    if not {"Request", "Exception", "Trace"} <= excluded:
        out.append("samplingSettings.excludedTypes must include Request, Exception and Trace")
    # Function logs (the worker forwards Python records, circle.* included, as Function.<name>.User) must
    # pass at Information: the most specific configured category wins, then "default".
    function_level = levels.get("Function", levels.get("default"))
    if function_level not in AT_LEAST_INFORMATION:
        out.append("logging.logLevel must let Function logs through at Information")

    queues = (host.get("extensions") or {}).get("queues") or {}
    if queues.get("maxDequeueCount") != POISON_AFTER:
        out.append(f"extensions.queues.maxDequeueCount must be {POISON_AFTER}")
    v = _TIMESPAN.match(str(queues.get("visibilityTimeout", "")))
    if not v or not timedelta(0) < timedelta(hours=int(v[1]), minutes=int(v[2]), seconds=int(v[3])):
        out.append("extensions.queues.visibilityTimeout must be a positive hh:mm:ss (the backoff before a retry)")
    batch = queues.get("batchSize", 16)
    if not isinstance(batch, int) or not 1 <= batch <= 32:
        out.append("extensions.queues.batchSize must be 1..32")

    text = json.dumps(host)
    if re.search(r"AccountKey=|InstrumentationKey=|SharedAccessSignature|sig=", text):
        out.append("host.json must not carry credentials (use app settings / Key Vault references)")
    return out


@pytest.fixture(scope="module")
def host() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(HOST_JSON.read_text(encoding="utf-8"))
    return data


def test_host_json_passes_every_rule(host: dict[str, Any]) -> None:
    assert problems(host) == []


def _set(host: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    broken = copy.deepcopy(host)
    *parents, leaf = path.split(".")
    node = broken
    for key in parents:
        node = node.setdefault(key, {})
    if value is _DELETE:
        node.pop(leaf, None)
    else:
        node[leaf] = value
    return broken


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("version", "1.0", "version"),
        ("extensionBundle.version", "[3.*, 4.0.0)", "extensionBundle.version"),
        ("extensionBundle.version", "4.*", "extensionBundle.version"),
        ("extensionBundle.id", "Microsoft.Azure.Functions.ExtensionBundle.Preview", "extensionBundle.id"),
        ("functionTimeout", "00:00:00", "functionTimeout"),
        ("functionTimeout", "-1", "functionTimeout"),  # unbounded: no budget for the remaining-time guard
        ("functionTimeout", "10 minutes", "functionTimeout"),
        ("logging.logLevel.default", "Info", "logging.logLevel"),
        ("logging.applicationInsights.samplingSettings.excludedTypes", "Exception", "excludedTypes"),
        ("logging.applicationInsights.samplingSettings.excludedTypes", "Request;Exception", "excludedTypes"),
        ("logging.logLevel.Function", "Warning", "Function logs"),
        ("extensions.queues.maxDequeueCount", 10, "maxDequeueCount"),
        ("extensions.queues", _DELETE, "maxDequeueCount"),
        ("extensions.queues.visibilityTimeout", "30s", "visibilityTimeout"),
        ("extensions.queues.batchSize", 64, "batchSize"),
        ("logging.applicationInsights.samplingSettings.maxTelemetryItemsPerSecond", 0, "maxTelemetryItems"),
        ("functionTimeOut", "00:05:00", "unknown top-level keys"),
        ("functions", ["storage_event"], "functions"),
        ("extensionBundle", _DELETE, "extensionBundle.id"),
        ("logging.applicationInsights.connectionString", "InstrumentationKey=00000000", "credentials"),
    ],
)
def test_each_rule_rejects_a_broken_copy(host: dict[str, Any], path: str, value: Any, expected: str) -> None:
    found = problems(_set(host, path, value))
    assert any(expected in p for p in found), found


def test_the_timeout_fits_the_plan_the_deploy_creates_and_is_the_functions_budget(host: dict[str, Any]) -> None:
    from scripts import deploy

    plan = deploy.plan_azure(deploy.Settings({}))
    (create,) = [st.argv for st in plan.steps if st.argv[:3] == ("az", "functionapp", "create")]
    assert deploy.AZURE_PLAN_FLAG == "--flexconsumption-location" and deploy.AZURE_PLAN_FLAG in create
    assert problems(host, flex=True) == []
    t = _TIMESPAN.match(host["functionTimeout"])
    assert t is not None
    timeout = timedelta(hours=int(t[1]), minutes=int(t[2]), seconds=int(t[3]))
    assert timeout == FLEX_DEFAULT_TIMEOUT  # the Flex default: longer copies fit, and nothing is unbounded
    assert timeout.total_seconds() == deploy.AZURE_TIME_BUDGET_SECONDS
    # On the Consumption plan the same file would be refused (its maximum is 10 minutes).
    assert any("Consumption" in p for p in problems(host, flex=False))
