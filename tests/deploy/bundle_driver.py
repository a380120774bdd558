"""Run inside a bundle's own virtualenv, from the bundle directory (as ``python -c``, so the bundle is
first on sys.path, like /var/task on Lambda or /home/site/wwwroot on Azure): load each entry point the
way its platform does and call it with the events the test passes as JSON on stdin. Prints one JSON
document: per invocation, where the code came from and what the entry point answered (or raised).

Only the standard library and the bundle's installed requirements are importable here."""

from __future__ import annotations

import base64
import importlib
import json
import sys
import traceback
from typing import Any


class LambdaContext:
    """The attributes the Lambda runtime's context object carries (the adapters read these)."""

    function_name = "circle-bundle-test"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:circle-bundle-test"
    aws_request_id = "00000000-0000-4000-8000-000000000000"
    log_group_name = "/aws/lambda/circle-bundle-test"
    log_stream_name = "bundle-test"

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except TypeError:
        return repr(value)


def _invoke(fn: Any, *args: Any) -> tuple[dict[str, Any], Any]:
    try:
        result = fn(*args)
    except Exception as exc:  # reported to the test, which decides
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()[-2000:]}, None
    return {"ok": True, "result": _jsonable(result)}, result


def _call(fn: Any, *args: Any) -> dict[str, Any]:
    return _invoke(fn, *args)[0]


def run_aws(spec: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"loaded": {}, "calls": []}
    for handler in spec["handlers"]:
        module, _, attr = handler.rpartition(".")
        mod = importlib.import_module(module)
        out["loaded"][handler] = {"file": mod.__file__, "callable": callable(getattr(mod, attr, None))}
    for call in spec["calls"]:
        module, _, attr = call["handler"].rpartition(".")
        fn = getattr(importlib.import_module(module), attr)
        out["calls"].append({"label": call["label"], **_call(fn, call["event"], LambdaContext())})
    return out


def _event_grid(func: Any, raw: dict[str, Any]) -> Any:
    import datetime as dt

    return func.EventGridEvent(
        id=raw["id"],
        data=raw["data"],
        topic=raw["topic"],
        subject=raw["subject"],
        event_type=raw["eventType"],
        event_time=dt.datetime.fromisoformat(raw["eventTime"].replace("Z", "+00:00")),
        data_version=raw.get("dataVersion", ""),
    )


def run_azure(spec: dict[str, Any]) -> dict[str, Any]:
    import azure.functions as func
    from azure_functions_runtime import loader
    from azure_functions_runtime.bindings import meta

    meta.load_binding_registry()  # what the worker does before it indexes
    out: dict[str, Any] = {"loaded": {}, "calls": []}
    events = spec["events"]
    for fn in loader.index_function_app("function_app.py"):
        name = fn.get_function_name()
        bindings = {b.type: b for b in fn.get_bindings()}
        user = fn.get_user_function()
        out["loaded"][name] = {
            "file": sys.modules[user.__module__].__file__,
            "bindings": sorted(bindings),
            "queue": getattr(bindings.get("queueTrigger"), "queue_name", None),
            "connection": getattr(bindings.get("queueTrigger"), "connection", None),
            "route": getattr(bindings.get("httpTrigger"), "route", None),
        }
        if "timerTrigger" in bindings:  # jobs: scheduled probe / reconciliation, the recorded timer payload
            timer = events["timer"]
            out["calls"].append(
                {"label": name, "kind": "timer", **_call(user, func.TimerRequest(past_due=timer["IsPastDue"]))}
            )
        elif "queueTrigger" in bindings and out["loaded"][name]["queue"] == "%CIRCLE_JOBS_QUEUE%":  # jobs
            from azure.functions.queue import QueueMessage

            message = QueueMessage(id="j-1", body=json.dumps(events["job"]).encode(), dequeue_count=1)
            out["calls"].append({"label": name, "kind": "jobs", **_call(user, message)})
        elif "queueTrigger" in bindings:
            # The class the worker's queue converter builds (it carries dequeue_count, unlike the base one).
            from azure.functions.queue import QueueMessage

            message = QueueMessage(id="m-1", body=json.dumps(events["blob"]).encode(), dequeue_count=1)
            out["calls"].append({"label": name, "kind": "queue", **_call(user, message)})
        elif "eventGridTrigger" in bindings:
            kind = "keyvault" if "secret" in name else "blob"
            out["calls"].append({"label": name, "kind": kind, **_call(user, _event_grid(func, events[kind]))})
        elif "httpTrigger" in bindings:
            route = str(out["loaded"][name]["route"] or "")
            if route.startswith("rotate"):  # POST without a vault: the function must answer 400 itself
                request = func.HttpRequest(
                    method="POST", url="https://circle.example/api/rotate/x", body=b"", route_params={"name": "x"}
                )
                kind = "rotate"
            else:  # the Event Grid webhook: the subscription validation handshake
                request = func.HttpRequest(
                    method="POST",
                    url="https://circle.example/api/events",
                    headers={"aeg-event-type": "SubscriptionValidation"},
                    body=json.dumps(events["validation"]).encode(),
                )
                kind = "validation"
            answer, response = _invoke(user, request)
            if response is not None:
                answer.update(result=None, status=response.status_code, body=response.get_body().decode())
            out["calls"].append({"label": name, "kind": kind, **answer})
        else:
            unknown = {"ok": False, "error": f"no recorded event for bindings {sorted(bindings)}"}
            out["calls"].append({"label": name, "kind": "unknown", **unknown})
    return out


def run_gcp(spec: dict[str, Any]) -> dict[str, Any]:
    import functions_framework

    out: dict[str, Any] = {"loaded": {}, "calls": []}
    for call in spec["calls"]:
        target = call["target"]
        app = functions_framework.create_app(target=target, source="main.py", signature_type="cloudevent")
        out["loaded"][target] = {"file": sys.modules["main"].__file__}
        data = call["data"]
        if call.get("base64_data"):
            data["message"]["data"] = base64.b64encode(json.dumps(call["base64_data"]).encode()).decode()
        headers = {f"ce-{k}": v for k, v in call["attributes"].items()} | {"Content-Type": "application/json"}
        response = app.test_client().post("/", headers=headers, data=json.dumps(data))
        out["calls"].append(
            {"label": call["label"], "ok": True, "status": response.status_code, "body": response.get_data(True)[-500:]}
        )
    return out


if __name__ == "__main__":
    request = json.loads(sys.stdin.read())
    runner = {"aws": run_aws, "azure": run_azure, "gcp": run_gcp}[request["cloud"]]
    print("\n" + json.dumps(runner(request)))
