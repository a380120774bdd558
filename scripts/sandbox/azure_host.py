"""The Azure Functions side of the sandbox, run as its own process: the Python worker's own indexer
(``azure-functions-runtime``) loads the bundle-root ``function_app.py`` and the ``storage_queue``
function is driven the way the Functions host drives a queue trigger, with the settings of ``host.json``
(``extensions.queues``): receive up to ``batchSize`` messages from the Azurite queue named by
``CIRCLE_EVENTS_QUEUE`` (base64 text, the host's default encoding), convert each with the worker's own
``QueueMessageInConverter``, call the function; delete the message when it returns, make it visible again
after ``visibilityTimeout`` when it raises, and move it to ``<queue>-poison`` after ``maxDequeueCount``.

Stand-in parts: this loop (the host's queue listener) and the Event Grid subscription that writes blob
events to the queue (scripts/sandbox/watchers.py; Azurite emits no events). Real parts: the queue
(Azurite), the indexer, the binding converter, the function and everything under it."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from types import SimpleNamespace
from typing import Any

from scripts.emulators import ROOT
from scripts.sandbox import report

# The worker gRPC contract's BindingInfo enum values, which the host hands to the indexer as ``protos``.
RPC = SimpleNamespace(
    BindingInfo=SimpleNamespace(
        **{"in": 0, "out": 1, "inout": 2, "undefined": 0, "string": 1, "binary": 2, "stream": 3}
    )
)


def _seconds(value: str) -> float:
    hours, minutes, seconds = value.split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def host_settings() -> dict[str, Any]:
    """``extensions.queues`` of the bundle's host.json, the values the host would apply."""
    queues = json.loads((ROOT / "host.json").read_text())["extensions"]["queues"]
    return {
        "batch_size": int(queues.get("batchSize", 16)),
        "max_dequeue": int(queues.get("maxDequeueCount", 5)),
        "visibility": _seconds(queues.get("visibilityTimeout", "00:00:00")),
        "max_poll": _seconds(queues.get("maxPollingInterval", "00:00:02")),
    }


def index_storage_queue() -> Any:
    """Index function_app.py as the worker does at start; the ``storage_queue`` function's info."""
    from azure_functions_runtime import loader
    from azure_functions_runtime.bindings import meta
    from azure_functions_runtime.functions import Registry

    meta.load_binding_registry()
    registry = Registry()
    for function in loader.index_function_app(str(ROOT / "function_app.py")):
        if function.get_function_name() == "storage_queue":
            return registry.add_indexed_function(function=function, protos=RPC)
    raise RuntimeError("function_app.py has no storage_queue function")


def queue_client(name: str) -> Any:
    from azure.storage.queue import QueueClient, TextBase64DecodePolicy, TextBase64EncodePolicy

    return QueueClient.from_connection_string(
        os.environ["AzureWebJobsStorage"],  # noqa: SIM112 - the Functions host's setting name
        name,
        message_encode_policy=TextBase64EncodePolicy(),
        message_decode_policy=TextBase64DecodePolicy(),
    )


def _convert(message: Any) -> Any:
    from azure.functions import meta
    from azure.functions.queue import QueueMessageInConverter

    metadata = {
        "Id": meta.Datum(message.id, "string"),
        "DequeueCount": meta.Datum(message.dequeue_count, "int"),
        "PopReceipt": meta.Datum(message.pop_receipt, "string"),
    }
    return QueueMessageInConverter.decode(meta.Datum(message.content, "string"), trigger_metadata=metadata)


def main() -> None:
    report.attach("azure")
    settings = host_settings()
    info = index_storage_queue()
    name = os.environ["CIRCLE_EVENTS_QUEUE"]
    queue, poison = queue_client(name), queue_client(f"{name}-poison")
    running = True

    def stop(*_: Any) -> None:
        nonlocal running
        running = False

    signal.signal(signal.SIGTERM, stop)
    report.send("ready", cloud="azure", pid=os.getpid(), functions="storage_queue")
    idle = 0.1
    while running:
        messages = list(queue.receive_messages(max_messages=settings["batch_size"], visibility_timeout=300))
        if not messages:
            time.sleep(idle)
            idle = min(idle * 2, settings["max_poll"])  # the host's exponential polling back-off
            continue
        idle = 0.1
        for message in messages:
            started, error = time.monotonic(), ""
            try:
                info.func(_convert(message))
                queue.delete_message(message)
            except Exception as exc:  # the host logs it and retries the message
                error = str(exc) or type(exc).__name__
                if message.dequeue_count >= settings["max_dequeue"]:
                    poison.send_message(message.content)
                    queue.delete_message(message)
                    error += f" (moved to {name}-poison)"
                else:
                    queue.update_message(
                        message, pop_receipt=message.pop_receipt, visibility_timeout=int(settings["visibility"])
                    )
            report.send(
                "batch",
                cloud="azure",
                messages=1,
                failed=[message.id] if error else [],
                reason=error,
                seconds=round(time.monotonic() - started, 3),
            )
    sys.exit(0)


if __name__ == "__main__":
    main()
