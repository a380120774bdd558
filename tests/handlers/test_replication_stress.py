"""Randomized, seeded stress test of convergence: concurrent create/overwrite/delete/versioned-delete
events, duplicated and delivered in random order, while the source keeps changing.

Each round is one fresh key: a mutator task changes the source a few times and publishes each change's
event (once or twice); one to three handler tasks take events from the pool in random order and handle
them (a retryable failure goes back to the pool: at-least-once redelivery). Tasks interleave at every
store operation under a seeded scheduler (``tests/handlers/interleave.py``), so a seed names one exact
interleaving. Once every delivered event is handled - with no extra pass - the replica must equal the
source or both be absent: 0 lost, 0 resurrected, 0 stale.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from core.config import parse_config
from core.events import StorageEvent
from core.handlers.replication import SOURCE_ETAG, SOURCE_VERSION
from core.runtime import Circle
from core.storage import ObjectStore, open_store
from tests import rigs
from tests.handlers.interleave import HookedStore, Scheduler

MEMORY_ROUNDS = 2000
MOTO_ROUNDS = 200


@dataclass
class Tally:
    rounds: int = 0
    events: int = 0
    redelivered: int = 0
    switches: int = 0
    actions: Counter[str] = field(default_factory=Counter)
    mutations: Counter[str] = field(default_factory=Counter)
    verdicts: Counter[str] = field(default_factory=Counter)

    def line(self, name: str, seconds: float) -> str:
        v = self.verdicts
        return (
            f"{name}: {self.rounds} rounds, {self.events} event deliveries, {self.redelivered} redelivered, "
            f"{self.switches} switches, source changes {dict(sorted(self.mutations.items()))}, "
            f"actions {dict(sorted(self.actions.items()))}; "
            f"lost {v['lost']}, resurrected {v['resurrected']}, stale {v['stale']}, "
            f"equal {v['equal']}, both absent {v['absent']} in {seconds:.1f}s"
        )


class Switch:
    """The hook the stores keep; each round points it at that round's scheduler."""

    def __init__(self) -> None:
        self.scheduler: Scheduler | None = None

    def __call__(self, op: str, key: str, phase: str, error: BaseException | None) -> None:
        if self.scheduler is not None:
            self.scheduler.hook(op, key, phase, error)


def _state(store: ObjectStore, key: str) -> tuple[bytes, Any] | None:
    try:
        with store.get(key) as reader:
            return reader.read(), reader.info
    except FileNotFoundError:
        return None


def verdict(src: ObjectStore, dst: ObjectStore, key: str) -> str:
    source, replica = _state(src, key), _state(dst, key)
    if source is None:
        return "absent" if replica is None else "resurrected"
    if replica is None:
        return "lost"
    stamp = (replica[1].metadata.get(SOURCE_ETAG), replica[1].metadata.get(SOURCE_VERSION, ""))
    if replica[0] != source[0] or stamp != (source[1].etag, source[1].version or ""):
        return "stale"
    return "equal"


Handle = Callable[[StorageEvent], tuple[bool, list[str]]]  # -> (redeliver?, actions)
RollBack = Callable[[str, list[bytes]], None]


def run_round(
    n: int,
    rng: random.Random,
    src: ObjectStore,
    switch: Switch,
    provider: str,
    bucket: str,
    handle: Handle,
    roll_back: RollBack,
    tally: Tally,
) -> str:
    key = f"r{n:05d}"
    scheduler = Scheduler(rng)
    switch.scheduler = scheduler
    pool: list[StorageEvent] = []
    mutating = True
    seq = 0

    def publish(kind: str) -> None:
        nonlocal seq
        seq += 1
        event = StorageEvent(
            provider=provider,  # type: ignore[arg-type]
            kind=kind,  # type: ignore[arg-type]
            bucket=bucket,
            key=key,
            event_time=datetime.now(UTC),
            event_id=f"{key}-{seq}",
            sequencer=f"{seq:016X}",
        )
        for _ in range(1 + (rng.random() < 0.5)):  # duplicated deliveries
            pool.append(event)

    def mutator() -> None:
        nonlocal mutating
        history: list[bytes] = []  # the puts that are still versions of the current object
        for step in range(rng.randint(2, 6)):
            present = bool(history)
            choice = "create" if not present else rng.choice(["overwrite", "delete", "versioned-delete"])
            tally.mutations[choice] += 1
            if choice in ("create", "overwrite"):
                body = f"{key} step {step} {rng.random()}".encode() * rng.randint(1, 50)
                src.put(key, body)
                history.append(body)
                publish("created")
            elif choice == "delete":
                src.delete(key)
                history.clear()
                publish("deleted")
            else:
                roll_back(key, history)
                publish("deleted")
            scheduler.pause()
        mutating = False

    def handler() -> None:
        while pool or mutating:
            if not pool:
                scheduler.pause()
                continue
            event = pool.pop(rng.randrange(len(pool)))
            tally.events += 1
            redeliver, actions = handle(event)
            tally.actions.update(actions)
            if redeliver:
                tally.redelivered += 1
                pool.append(event)

    scheduler.run([mutator] + [handler for _ in range(rng.randint(1, 3))])
    switch.scheduler = None
    tally.switches += scheduler.switches
    tally.rounds += 1
    return key


def test_memory_stress_converges_with_nothing_lost_resurrected_or_stale(
    capsys: pytest.CaptureFixture[str],
) -> None:
    rng = random.Random(20261202)
    switch = Switch()
    tag = f"{rng.getrandbits(32):08x}"
    src_plain, dst_plain = open_store(f"memory://stress-src-{tag}"), open_store(f"memory://stress-dst-{tag}")
    src, dst = HookedStore(src_plain, switch), HookedStore(dst_plain, switch)
    config = parse_config(
        {
            "stores": {"src": {"url": f"memory://stress-src-{tag}"}, "dst": {"url": f"memory://stress-dst-{tag}"}},
            "replication": [{"source": "src", "targets": ["dst"], "propagate_deletes": True}],
        }
    )
    circle = Circle.from_config(config, stores={"src": src, "dst": dst})  # type: ignore[dict-item]

    def handle(event: StorageEvent) -> tuple[bool, list[str]]:
        delivery = circle.handle_events([event])
        return delivery.status == "retry", [o.action for r in delivery.results for o in r.outcomes]

    def roll_back(key: str, history: list[bytes]) -> None:
        """memory:// keeps no old versions: the previous put's bytes become current again."""
        history.pop()
        if history:
            src.put(key, history[-1])
        else:
            src.delete(key)

    tally = Tally()
    started = time.monotonic()
    for n in range(MEMORY_ROUNDS):
        key = run_round(n, rng, src, switch, "memory", f"stress-src-{tag}", handle, roll_back, tally)  # type: ignore[arg-type]
        tally.verdicts[verdict(src_plain, dst_plain, key)] += 1
    with capsys.disabled():
        print("\n" + tally.line("memory://", time.monotonic() - started))
    assert tally.rounds == MEMORY_ROUNDS
    assert tally.verdicts["lost"] == tally.verdicts["resurrected"] == tally.verdicts["stale"] == 0
    assert tally.verdicts["equal"] > MEMORY_ROUNDS // 4 and tally.verdicts["absent"] > MEMORY_ROUNDS // 10
    assert tally.actions["copied"] and tally.actions["deleted"] and tally.mutations["versioned-delete"]


def test_moto_stress_converges_with_nothing_lost_resurrected_or_stale(
    rig_context: rigs.RigContext, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.rigs.s3 import admin_client

    rng = random.Random(1202)
    switch = Switch()
    src_plain, dst_plain = rigs.make("s3", rig_context), rigs.make("s3", rig_context)  # versioned buckets
    src, dst = HookedStore(src_plain, switch), HookedStore(dst_plain, switch)
    bucket = src_plain.url.split("://", 1)[1]
    admin = admin_client(rig_context.emulators().s3_endpoint)
    config = parse_config(
        {
            "stores": {"src": {"url": src_plain.url}, "dst": {"url": dst_plain.url}},
            "replication": [{"source": "src", "targets": ["dst"], "propagate_deletes": True}],
        }
    )
    circle = Circle.from_config(config, stores={"src": src, "dst": dst})  # type: ignore[dict-item]

    def handle(event: StorageEvent) -> tuple[bool, list[str]]:
        delivery = circle.handle_events([event])  # routing, the S3 sequencer hint, settling: as deployed
        actions = [o.action for r in delivery.results for o in r.outcomes]
        assert actions, f"no rule routed {event.bucket}/{event.key}"
        return delivery.status == "retry", actions

    def roll_back(key: str, history: list[bytes]) -> None:
        """A real DeleteObject by VersionId of the current version: the previous one becomes current."""
        switch(op="delete", key=key, phase="before", error=None)
        latest = src_plain.head(key).version
        admin.delete_object(Bucket=bucket, Key=key, VersionId=latest)
        history.pop()

    tally = Tally()
    started = time.monotonic()
    for n in range(MOTO_ROUNDS):
        key = run_round(n, rng, src, switch, "aws", bucket, handle, roll_back, tally)  # type: ignore[arg-type]
        tally.verdicts[verdict(src_plain, dst_plain, key)] += 1
    with capsys.disabled():
        print("\n" + tally.line("moto (versioned)", time.monotonic() - started))
    assert tally.rounds == MOTO_ROUNDS
    assert tally.verdicts["lost"] == tally.verdicts["resurrected"] == tally.verdicts["stale"] == 0
    assert tally.verdicts["equal"] > MOTO_ROUNDS // 4 and tally.verdicts["absent"] > MOTO_ROUNDS // 20
    assert tally.actions["copied"] and tally.actions["deleted"] and tally.mutations["versioned-delete"]
