"""docs/costs.md "Requests per replication", measured: the storage requests one converge operation
(one event, one target) makes for a small object, counted at the provider boundary of ``memory://``
stores (each counted call is one HTTP request on a cloud store for objects below the multipart
threshold). ``PYTHONPATH=. python docs/examples/request_counts.py`` prints the table; the test checks
the page quotes the same figures."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from core.handlers.replication import Hint, converge
from core.storage import ObjectStore, open_store
from core.storage.providers.memory import MemoryBackend

OPERATIONS = ("head", "get", "put", "delete", "list_page", "copy")


@contextmanager
def counting() -> Iterator[Counter[tuple[str, str]]]:
    """Count every backend call as (bucket, operation)."""
    counts: Counter[tuple[str, str]] = Counter()
    originals = {name: getattr(MemoryBackend, name) for name in OPERATIONS}

    def wrap(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def counted(self: MemoryBackend, *args: Any, **kwargs: Any) -> Any:
            counts[(self.describe().split("://", 1)[1], name)] += 1
            return fn(self, *args, **kwargs)

        return counted

    for name, fn in originals.items():
        setattr(MemoryBackend, name, wrap(name, fn))
    try:
        yield counts
    finally:
        for name, fn in originals.items():
            setattr(MemoryBackend, name, fn)


def _summary(counts: Counter[tuple[str, str]], source: str, target: str) -> dict[str, str]:
    def side(bucket: str) -> str:
        parts = [f"{n} {op}" for (b, op), n in sorted(counts.items()) if b == bucket and n]
        return ", ".join(parts) or "none"

    return {"source": side(source), "target": side(target), "total": str(sum(counts.values()))}


def measure() -> dict[str, dict[str, str]]:
    src: ObjectStore = open_store("memory://cost-source")
    dst: ObjectStore = open_store("memory://cost-target")
    s, t = "cost-source", "cost-target"

    def once(kind: str) -> dict[str, str]:
        with counting() as counts:
            outcome = converge(src, "k", dst, "k", target_name="t", hint=Hint(kind=kind))
        assert outcome.failure is None, outcome
        return _summary(counts, s, t) | {"action": outcome.action}

    rows = {}
    src.put("k", b"x" * 1000)
    rows["new object (created)"] = once("created")
    rows["same event again (duplicate)"] = once("created")
    src.put("k", b"y" * 1000)
    rows["overwrite (created)"] = once("created")
    src.delete("k")
    rows["delete (deleted, propagate_deletes)"] = once("deleted")
    rows["delete again (duplicate)"] = once("deleted")
    return rows


def main() -> None:
    print("| change | action | source requests | target requests | total |")
    print("|---|---|---|---|---:|")
    for change, row in measure().items():
        print(f"| {change} | {row['action']} | {row['source']} | {row['target']} | {row['total']} |")


if __name__ == "__main__":
    main()
