"""Seeded fuzzing of every public entry point of ``core.events`` with mutated vendor payloads.

Every file in tests/events/data is decoded and mutated a few thousand times (type swaps, deletions,
deep nesting, huge strings, non-ASCII digits, None, lists for objects, envelopes around envelopes,
broken JSON text). Whatever comes out, only EventError may escape (``subscription_validation_code``
never raises). The seed is fixed so a failure reproduces; the run stops early at a time budget.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from core.events import EventError, parse_batch, parse_cloudevent, parse_events, subscription_validation_code
from tests.events._data import DATA

SEED = 20_261_202
MUTATIONS = 4_000
MIN_MUTATIONS = 1_000  # what a slow, shared machine must still reach within the budget
BUDGET_S = 12.0

_DEEP_LIST: Any = []
for _ in range(30_000):
    _DEEP_LIST = [_DEEP_LIST]

ODD_VALUES: tuple[Any, ...] = (
    None,
    [],
    {},
    "",
    0,
    -1,
    True,
    1.5,
    float("nan"),
    float("inf"),
    10**30,
    10**5000,
    "²",
    "\u0661\u0662\u0663",
    "\uff11\uff12",
    "9" * 5000,
    "x" * 200_000,
    "\udc80",
    "\x00",
    "%ZZ%",
    "+",
    "9999-12-31T23:59:59-23:59",
    "0001-01-01T00:00:00+23:59",
    "https://[x/y",
    "/blobServices/default/containers/",
    "[" * 20_000,
    _DEEP_LIST,
    [None],
    [[]],
    {"Records": None},
)
ENVELOPE_KEYS = (
    "Records",
    "records",
    "events",
    "specversion",
    "type",
    "eventType",
    "detail-type",
    "source",
    "Type",
    "TopicArn",
    "Message",
    "message",
    "attributes",
    "data",
    "context",
    "notification",
    "operation",
    "cos",
    "event",
    "kind",
    "subscription",
    "eventSource",
    "EventSource",
)
CE_TYPES = (
    "google.cloud.storage.object.v1.finalized",
    "google.cloud.pubsub.topic.v1.messagePublished",
    "Microsoft.Storage.BlobCreated",
    "Microsoft.EventGrid.SubscriptionValidationEvent",
    "com.ibm.cloud.cos.document.write",
    "com.oraclecloud.objectstorage.createobject",
    "com.example.other",
)


def payloads() -> list[tuple[str, Any]]:
    """(name, decoded JSON or raw text) for every vendor file."""
    out: list[tuple[str, Any]] = []
    for path in sorted(p for p in DATA.rglob("*") if p.is_file()):
        text = path.read_bytes()
        try:
            out.append((path.relative_to(DATA).as_posix(), json.loads(text)))
        except ValueError:
            out.append((path.relative_to(DATA).as_posix(), text.decode("utf-8", "replace")))
    return out


def dumps(value: Any) -> str:
    """json.dumps that cannot fail on the odd values (5,000-digit ints, 30,000-deep lists)."""
    try:
        return json.dumps(value)
    except (ValueError, RecursionError):
        return '{"unserialisable": true}'


def clone(doc: Any) -> Any:
    """A deep copy that shares the (immutable here) deep list instead of recursing into it."""
    if doc is _DEEP_LIST:
        return doc
    if type(doc) is dict:
        return {k: clone(v) for k, v in doc.items()}
    if type(doc) is list:
        return [clone(v) for v in doc]
    return doc


def nodes(doc: Any, depth: int = 0) -> Iterator[tuple[Any, Any]]:
    """(container, key or index) of every value in ``doc``, JSON text inside strings not included."""
    if depth > 40 or doc is _DEEP_LIST:
        return
    if type(doc) is dict:
        for key in list(doc):
            yield doc, key
            yield from nodes(doc[key], depth + 1)
    elif type(doc) is list:
        for i in range(len(doc)):
            yield doc, i
            yield from nodes(doc[i], depth + 1)


def mutate_tree(rng: random.Random, doc: Any, steps: int) -> Any:
    """Apply ``steps`` random structural mutations to a deep copy of ``doc``."""
    doc = clone(doc)
    for _ in range(steps):
        found = list(nodes(doc))
        if not found:
            return rng.choice(ODD_VALUES)
        parent, key = rng.choice(found)
        value = parent[key]
        op = rng.randrange(11)
        if op == 0:  # deletion
            del parent[key]
        elif op <= 3:  # an odd value of another type
            parent[key] = rng.choice(ODD_VALUES)
        elif op == 4:  # a list for an object (or anything)
            parent[key] = [value]
        elif op == 5:  # an object for a list
            parent[key] = {"0": value} if type(value) is list else {"value": value}
        elif op == 6 and type(value) is str:  # mutate JSON text inside a string (SQS bodies, SNS messages)
            try:
                inner = json.loads(value)
            except ValueError:
                parent[key] = value[: rng.randrange(len(value) + 1)] + rng.choice(("%", "+", "\udc80", "²", '"', "{"))
            else:
                parent[key] = dumps(mutate_tree(rng, inner, 1))
        elif op == 7 and type(parent) is dict:  # an envelope marker where it does not belong
            parent[rng.choice(ENVELOPE_KEYS)] = rng.choice((*ODD_VALUES[:12], value, "aws:sqs", "aws:s3", "1.0"))
        elif op == 8:  # the value serialised as text
            parent[key] = dumps(value)
        elif op == 9 and type(value) in (int, str):  # digits and numbers
            parent[key] = rng.choice(("-1", "1e3", " 1", "0x10", "\u0661", 2**63, -(2**63), "18446744073709551616"))
        else:  # deep nesting in place
            parent[key] = _DEEP_LIST if rng.random() < 0.5 else {"a": {"b": {"c": value}}}
    return doc


def wrap(rng: random.Random, doc: Any) -> Any:
    """Put the payload inside another envelope, so mutations reach inner detectors through wrappers."""
    body = doc if rng.random() < 0.3 else dumps(doc)
    choice = rng.randrange(5)
    if choice == 0:
        return {"Records": [{"eventSource": "aws:sqs", "messageId": "m", "body": body}]}
    if choice == 1:
        return {"Records": [{"EventSource": "aws:sns", "Sns": {"MessageId": "s", "Message": body}}]}
    if choice == 2:
        return {"Type": "Notification", "TopicArn": "arn", "MessageId": "s", "Message": body}
    if choice == 3:
        return [doc, doc]
    return {"message": {"attributes": {"eventType": "OBJECT_FINALIZE", "bucketId": "b", "objectId": "k"}, "data": body}}


def mutate_text(rng: random.Random, text: str) -> str | bytes:
    """Break the JSON text itself."""
    op = rng.randrange(5)
    if op == 0:
        return text[: rng.randrange(len(text) + 1)]
    if op == 1:
        i = rng.randrange(len(text) + 1)
        return text[:i] + rng.choice(("\x00", "\udc80", "²", "[", "}", '"', "\\u12")) + text[i:]
    if op == 2:
        return "[" * 30_000 + text + "]" * 30_000
    if op == 3:
        return text.encode("utf-16")
    return text.encode("utf-8", "surrogatepass") + b"\xff"


def one_case(rng: random.Random, corpus: list[tuple[str, Any]]) -> tuple[str, Any, dict[str, Any]]:
    name, doc = rng.choice(corpus)
    if type(doc) is str:
        return name, mutate_text(rng, doc), {}
    roll = rng.random()
    if roll < 0.6:
        payload = mutate_tree(rng, doc, rng.randrange(1, 4))
    elif roll < 0.85:
        payload = wrap(rng, mutate_tree(rng, doc, rng.randrange(1, 3)))
    else:
        payload = mutate_text(rng, dumps(mutate_tree(rng, doc, 1)))
    headers: dict[str, Any] = {"ce-specversion": "1.0", "ce-type": rng.choice(CE_TYPES), "ce-id": "1"}
    if rng.random() < 0.2:
        headers[rng.choice(("ce-type", "ce-time", "ce-subject", "ce-source"))] = rng.choice(ODD_VALUES[:12])
    return name, payload, headers


def run(fn: Callable[..., object], args: tuple[Any, ...], counts: Counter[str], untyped: list[str], label: str) -> None:
    label = f"{label} {fn.__name__}"
    try:
        fn(*args)
    except EventError as exc:
        counts["EventError" if type(exc) is EventError else f"subclass {type(exc).__name__}"] += 1
        if type(exc) is not EventError:
            untyped.append(f"{label}: {type(exc).__name__}: {str(exc)[:200]}")
    except Exception as exc:  # the point of the test: anything else is a finding
        counts[type(exc).__name__] += 1
        untyped.append(f"{label}: {type(exc).__name__}: {str(exc)[:200]}")
    else:
        counts["ok"] += 1


def test_only_event_errors_escape_under_fuzzing() -> None:
    rng = random.Random(SEED)
    corpus = payloads()
    assert len(corpus) >= 60, "the vendor payloads are missing"
    counts: Counter[str] = Counter()
    untyped: list[str] = []
    started = time.monotonic()
    done = 0
    for done in range(1, MUTATIONS + 1):
        name, payload, headers = one_case(rng, corpus)
        label = f"#{done} from {name}"
        run(parse_events, (payload,), counts, untyped, label)
        run(parse_batch, (payload,), counts, untyped, label)
        if type(payload) is not list:
            run(parse_cloudevent, (headers, payload), counts, untyped, label)
        try:
            code = subscription_validation_code(payload)
            assert code is None or type(code) is str
        except Exception as exc:  # it must never raise, not even EventError
            untyped.append(f"{label} subscription_validation_code: {type(exc).__name__}: {str(exc)[:200]}")
        if time.monotonic() - started > BUDGET_S:
            break
    elapsed = time.monotonic() - started
    print(
        f"\nfuzz: {done} mutations (seed {SEED}) in {elapsed:.1f} s, {len(untyped)} untyped exceptions; "
        f"outcomes {dict(counts)}"
    )
    assert untyped == [], f"{len(untyped)} untyped exceptions in {done} mutations:\n" + "\n".join(untyped[:10])
    assert done >= MIN_MUTATIONS, f"only {done} mutations in {BUDGET_S} s"
    assert counts["ok"] > 0 and counts["EventError"] > 0  # the mutations both keep and break payloads


def test_fuzz_corpus_includes_every_vendor_payload() -> None:
    names = {name for name, _ in payloads()}
    files = {p.relative_to(DATA).as_posix() for p in Path(DATA).rglob("*") if p.is_file()}
    assert names == files
