"""Fan-out range planning: quantile cuts from a complete sample, fixed character cuts past the sample;
either way the ranges cover every key exactly once, and each range reconciles with its own checkpoint."""

from __future__ import annotations

import uuid

from core.config import parse_config
from core.handlers.fanout import fan_out, fixed_boundaries, plan_ranges, ranges_from_boundaries
from core.handlers.reconcile import KeyRange, reconcile
from core.runtime import Circle
from core.storage import open_store


def _covers_once(ranges: list[KeyRange], keys: list[str]) -> None:
    for key in keys:
        assert sum(r.contains(key) for r in ranges) == 1, key


def test_ranges_cover_every_key_once() -> None:
    store = open_store(f"memory://fan-{uuid.uuid4().hex[:8]}")
    keys = [f"p/{c}{i}" for c in "0aZz-~" for i in range(7)]
    for key in keys:
        store.put(key, b"x")
    quantiles = plan_ranges(store, "p/", count=4)
    assert len(quantiles) == 4 and [r.name for r in quantiles] == ["r000", "r001", "r002", "r003"]
    _covers_once(quantiles, keys)
    fixed = plan_ranges(store, "p/", count=5, sample_limit=10)  # the sample is not the whole listing
    assert [r.until for r in fixed[:-1]] == fixed_boundaries("p/", 5)
    _covers_once(fixed, [*keys, "a", "p/", "q/zzz"])
    assert plan_ranges(store, "p/", count=1) == [KeyRange(name="r000")]
    assert ranges_from_boundaries(["b", "a", "b"]) == [
        KeyRange(None, "a", "r000"),
        KeyRange("a", "b", "r001"),
        KeyRange("b", None, "r002"),
    ]


def test_fanned_out_ranges_converge_like_one_pass() -> None:
    tag = uuid.uuid4().hex[:8]
    config = parse_config(
        {
            "stores": {"src": {"url": f"memory://fs-{tag}"}, "dst": {"url": f"memory://fd-{tag}"}},
            "replication": [{"name": "r", "source": "src", "targets": ["dst"], "propagate_deletes": True}],
        }
    )
    circle = Circle.from_config(config)
    for i in range(40):
        circle.store("src").put(f"k{i:02d}", b"v")
    sent: list[dict[str, object]] = []
    report = fan_out(circle, sent.extend, count=4, batch=3)
    assert report.messages == 4 == len(sent) and report.rules == {"r": 4}
    total = 0
    for message in sent:
        key_range = KeyRange.from_dict(message["range"])  # type: ignore[arg-type]
        result = reconcile(circle, rule=str(message["rule"]), key_range=key_range)
        assert result.complete
        total += result.copied
    assert total == 40
    assert sorted(o.key for o in circle.store("dst").list()) == [f"k{i:02d}" for i in range(40)]


def test_large_transfers_run_one_at_a_time_small_ones_do_not_wait() -> None:
    import threading

    from core.handlers.sync import LARGE_OBJECT, LargeGate

    gate = LargeGate()
    inside = threading.Event()
    release = threading.Event()
    order: list[str] = []

    def first() -> None:
        order.append("big-1 in")
        inside.set()
        release.wait(10)
        order.append("big-1 out")

    t1 = threading.Thread(target=gate.run, args=(LARGE_OBJECT + 1, first))
    t1.start()
    assert inside.wait(10)
    gate.run(10, lambda: order.append("small"))  # not held back by the large transfer in progress
    t2 = threading.Thread(target=gate.run, args=(LARGE_OBJECT + 1, lambda: order.append("big-2")))
    t2.start()
    t2.join(0.2)
    assert t2.is_alive()  # the second large transfer waits for the first
    release.set()
    t1.join(10)
    t2.join(10)
    assert order == ["big-1 in", "small", "big-1 out", "big-2"]
