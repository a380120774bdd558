"""The Function App as the Azure Functions worker indexes it: once per process, at start.

``FunctionApp.get_functions()`` is not idempotent: it records every function name on the app and a
second call on the same (module-level, imported once) app raises ``ValueError: Function ... does not
have a unique function name``. The worker indexes once; so must the tests that share a process, which
is why every test that needs the indexed app goes through this one cache.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace
from typing import Any

from scripts.emulators import ROOT

# The worker gRPC contract's enum values (FunctionRpc.proto, BindingInfo): the host hands these to the
# indexer as ``protos``; they match azure.functions' BindingDirection and DataType numbering.
RPC = SimpleNamespace(
    BindingInfo=SimpleNamespace(
        **{"in": 0, "out": 1, "inout": 2, "undefined": 0, "string": 1, "binary": 2, "stream": 3}
    )
)


@functools.cache
def indexed() -> dict[str, Any]:
    """Function name -> (the indexed function, its registered info), from the bundle-root function_app.py."""
    from azure_functions_runtime import loader
    from azure_functions_runtime.bindings import meta
    from azure_functions_runtime.functions import Registry

    meta.load_binding_registry()  # what the worker does on init, before it indexes
    registry = Registry()
    functions = loader.index_function_app(str(ROOT / "function_app.py"))
    return {f.get_function_name(): (f, registry.add_indexed_function(function=f, protos=RPC)) for f in functions}
