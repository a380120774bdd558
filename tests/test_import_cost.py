"""Cold start: importing the core's public modules builds nothing a cold invocation can do without.

Each check runs in a fresh interpreter (``sys.modules`` of this test process says nothing about a cold
start). The heavy standard-library modules below cost several milliseconds each; a platform SDK may
load them, but the core must not be the reason they are loaded.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

COLD_IMPORT = "core, core.storage, core.events, core.config, core.handlers.storage_events, core.runtime"
HEAVY = (
    "inspect",
    "dataclasses",  # imports inspect; a dataclass definition at import time needs it
    "asyncio",
    "email",
    "http.client",
    "concurrent.futures",
    "socket",
    "ssl",
    "hashlib",
    "tomllib",
    "datetime",
    "urllib.parse",
)


def _loaded_by(statement: str) -> list[str]:
    """Modules ``statement`` adds to ``sys.modules`` in a fresh interpreter."""
    code = f"import json, sys; seen = set(sys.modules); {statement}; print(json.dumps(sorted(set(sys.modules) - seen)))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def test_the_cold_import_loads_no_heavy_stdlib_module() -> None:
    loaded = set(_loaded_by(f"import {COLD_IMPORT}"))
    assert not loaded & set(HEAVY), f"importing {COLD_IMPORT} loaded {sorted(loaded & set(HEAVY))}"


def test_the_cold_import_builds_no_storage_engine_event_parser_or_config_model() -> None:
    core_modules = {m for m in _loaded_by(f"import {COLD_IMPORT}") if m.startswith("core")}
    allowed = {*COLD_IMPORT.split(", "), "core.handlers", "core.handlers.errors", "core.documents"}
    assert core_modules <= allowed, sorted(core_modules)


@pytest.mark.parametrize(
    "statement",
    [
        "from core.storage import open_store, ObjectStore, NotFound, PROVIDERS, copy_object",
        "from core.events import parse_events, StorageEvent, EventError, REGISTRY",
        "from core.config import Config, StoreConfig, ReplicationRule, load_config, parse_config, ConfigError",
        "from core.runtime import Circle, Delivery, DeadLetterSink, StoreDeadLetterSink, with_budget",
        "from core.handlers.storage_events import EventResult, ReplicationFailed, StorageEventHandler",
    ],
)
def test_the_public_names_still_resolve(statement: str) -> None:
    """The lazy attributes (PEP 562) give the same objects the defining modules hold."""
    assert any(m.startswith("core.") for m in _loaded_by(statement))


def test_a_name_the_package_does_not_have_is_an_attribute_error() -> None:
    code = "import core.storage\ntry:\n    core.storage.no_such_name\nexcept AttributeError as e:\n    print(e)"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert "has no attribute 'no_such_name'" in out


def test_a_cold_memory_replication_works_from_the_lazy_names() -> None:
    """The first use of each lazy name loads what it needs: config, runtime, events, storage, engine."""
    code = """
from core.config import parse_config
from core.runtime import Circle
from core.events import StorageEvent
import datetime
config = parse_config({"stores": {"a": {"url": "memory://lazy-a"}, "b": {"url": "memory://lazy-b"}},
                       "replication": [{"source": "a", "targets": ["b"]}]})
circle = Circle.from_config(config)
circle.store("a").put("k", b"v")
event = StorageEvent(provider="memory", kind="created", bucket="lazy-a", key="k",
                     event_time=datetime.datetime.now(datetime.UTC), event_id="1")
delivery = circle.handle_events([event])
print(delivery.status, [o.action for r in delivery.results for o in r.outcomes], circle.store("b").get("k").read())
"""
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.split() == ["ok", "['copied']", "b'v'"]
