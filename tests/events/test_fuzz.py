"""Seeded fuzzing of every public entry point of ``core.events`` with mutated vendor payloads.

Every file in tests/events/data is decoded and mutated at least 1,000 times (type swaps, deletions,
deep nesting, huge strings, non-ASCII digits, None, lists for objects, envelopes around envelopes,
broken JSON text). Whatever comes out, only EventError may escape (``subscription_validation_code``
never raises). Each payload has its own seeded generator, so a failure reproduces from its label alone;
payloads take turns, so the time bound (a safety stop, not the expected run time) cuts every payload
short alike. Mutations copy only the containers on the path they change (copy-on-write over paths
listed once per payload) and serialise nothing the encoder would fail on, so the parsers get most of
the time: 80,000 mutations (80 payloads) take 9-15 s on the shared two-core test machine.
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
MUTATIONS_PER_PAYLOAD = 1_000
BUDGET_S = 90.0  # a bound, not a target (measured: 9-15 s); hitting it fails the test

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
    "x" * 20_000,  # longer than any limit on a name, a key or a field (MAX_TEXT_BYTES is for whole texts)
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


UNSERIALISABLE = '{"unserialisable": true}'


def _holds_deep_list(value: Any, depth: int = 0) -> bool:
    if value is _DEEP_LIST:
        return True
    if depth > 60:
        return False
    if type(value) is dict:
        return any(_holds_deep_list(v, depth + 1) for v in value.values())
    if type(value) is list:
        return any(_holds_deep_list(v, depth + 1) for v in value)
    return False


def dumps(value: Any) -> str:
    """json.dumps that cannot fail on the odd values (5,000-digit ints, 30,000-deep lists). The deep list
    is found by a walk first: the encoder would take milliseconds to recurse to its limit and fail."""
    if _holds_deep_list(value):
        return UNSERIALISABLE
    try:
        return json.dumps(value)
    except (ValueError, RecursionError):
        return UNSERIALISABLE


JsonPath = tuple[Any, ...]


def paths(doc: Any) -> list[JsonPath]:
    """The path (keys and indexes from the root) of every value in ``doc``, listed once per payload."""
    out: list[JsonPath] = []

    def walk(node: Any, path: JsonPath, depth: int) -> None:
        if depth > 40 or node is _DEEP_LIST:
            return
        if type(node) is dict:
            for key, value in node.items():
                out.append((*path, key))
                walk(value, (*path, key), depth + 1)
        elif type(node) is list:
            for i, value in enumerate(node):
                out.append((*path, i))
                walk(value, (*path, i), depth + 1)

    walk(doc, (), 0)
    return out


def _shallow(node: Any) -> Any:
    return dict(node) if type(node) is dict else list(node)


def _writable(root: Any, path: JsonPath, fresh: set[int]) -> tuple[Any, Any] | None:
    """The parent of ``path`` in ``root``, after copying every container on the way that is still shared
    with the original payload (``fresh`` holds the ids of the copies); None if the path no longer
    exists (an earlier step deleted or replaced part of it)."""
    node = root
    for step in path[:-1]:
        try:
            child = node[step]
        except (KeyError, IndexError, TypeError):
            return None
        if type(child) is not dict and type(child) is not list:
            return None
        if id(child) not in fresh:
            child = node[step] = _shallow(child)
            fresh.add(id(child))
        node = child
    last = path[-1]
    if type(node) is dict and last in node:
        return node, last
    if type(node) is list and type(last) is int and last < len(node):
        return node, last
    return None


def mutate_tree(rng: random.Random, doc: Any, steps: int, listed: list[JsonPath] | None = None) -> Any:
    """Apply ``steps`` random structural mutations to ``doc`` without changing it: the containers on each
    mutated path are copied, the rest is shared. ``listed`` is ``paths(doc)`` when the caller has it."""
    found = listed if listed is not None else paths(doc)
    if not found or (type(doc) is not dict and type(doc) is not list):
        return rng.choice(ODD_VALUES)
    root = _shallow(doc)
    fresh = {id(root)}
    for _ in range(steps):
        where = _writable(root, rng.choice(found), fresh)
        if where is None:
            continue
        parent, key = where
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
            except (ValueError, RecursionError):
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
    return root


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
    """Break the JSON text itself. Nesting it 30,000 deep is rarer than the other breaks: every decode
    of such a text costs about a millisecond (the decoder recurses to its limit), and one shape of input
    needs no thousands of repeats."""
    op = rng.randrange(40)
    if op < 12:
        return text[: rng.randrange(len(text) + 1)]
    if op < 24:
        i = rng.randrange(len(text) + 1)
        return text[:i] + rng.choice(("\x00", "\udc80", "²", "[", "}", '"', "\\u12")) + text[i:]
    if op == 24:
        return "[" * 30_000 + text + "]" * 30_000
    if op < 32:
        return text.encode("utf-16")
    return text.encode("utf-8", "surrogatepass") + b"\xff"


def one_case(rng: random.Random, doc: Any, listed: list[JsonPath]) -> tuple[Any, dict[str, Any]]:
    """One mutated delivery of ``doc`` (``listed`` = ``paths(doc)``) and CloudEvent headers to go with it."""
    if type(doc) is str:
        return mutate_text(rng, doc), {}
    roll = rng.random()
    if roll < 0.6:
        payload = mutate_tree(rng, doc, rng.randrange(1, 4), listed)
    elif roll < 0.85:
        payload = wrap(rng, mutate_tree(rng, doc, rng.randrange(1, 3), listed))
    else:
        payload = mutate_text(rng, dumps(mutate_tree(rng, doc, 1, listed)))
    headers: dict[str, Any] = {"ce-specversion": "1.0", "ce-type": rng.choice(CE_TYPES), "ce-id": "1"}
    if rng.random() < 0.2:
        headers[rng.choice(("ce-type", "ce-time", "ce-subject", "ce-source"))] = rng.choice(ODD_VALUES[:12])
    return payload, headers


def cases(per_payload: int, *, seed: int = SEED) -> Iterator[tuple[str, int, Any, dict[str, Any]]]:
    """``(payload name, n, mutated payload, headers)``: payloads take turns, each with its own generator
    (seeded by ``seed`` and its name), so case ``n`` of a payload is the same whatever else runs."""
    corpus = payloads()
    rngs = {name: random.Random(f"{seed}:{name}") for name, _ in corpus}
    listed = {name: paths(doc) for name, doc in corpus}
    for n in range(per_payload):
        for name, doc in corpus:
            payload, headers = one_case(rngs[name], doc, listed[name])
            yield name, n, payload, headers


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
    corpus = payloads()
    assert len(corpus) >= 60, "the vendor payloads are missing"
    original = dumps([doc for _, doc in corpus])
    counts: Counter[str] = Counter()
    per_payload: Counter[str] = Counter()
    untyped: list[str] = []
    started = time.monotonic()
    for name, n, payload, headers in cases(MUTATIONS_PER_PAYLOAD):
        label = f"#{n} of {name} (seed {SEED})"
        run(parse_events, (payload,), counts, untyped, label)
        run(parse_batch, (payload,), counts, untyped, label)
        if type(payload) is not list:
            run(parse_cloudevent, (headers, payload), counts, untyped, label)
        try:
            code = subscription_validation_code(payload)
            assert code is None or type(code) is str
        except Exception as exc:  # it must never raise, not even EventError
            untyped.append(f"{label} subscription_validation_code: {type(exc).__name__}: {str(exc)[:200]}")
        per_payload[name] += 1
        if time.monotonic() - started > BUDGET_S:
            break
    elapsed = time.monotonic() - started
    done = sum(per_payload.values())
    print(
        f"\nfuzz: {done} mutations ({min(per_payload.values())} or more per payload, seed {SEED}) in "
        f"{elapsed:.1f} s, {len(untyped)} untyped exceptions; outcomes {dict(counts)}"
    )
    assert untyped == [], f"{len(untyped)} untyped exceptions in {done} mutations:\n" + "\n".join(untyped[:10])
    assert set(per_payload) == {name for name, _ in corpus}
    assert min(per_payload.values()) >= MUTATIONS_PER_PAYLOAD, f"only {done} mutations in {BUDGET_S} s"
    assert counts["ok"] > 0 and counts["EventError"] > 0  # the mutations both keep and break payloads
    assert dumps([doc for _, doc in corpus]) == original  # copy-on-write: the payloads themselves unchanged


def test_mutations_copy_what_they_change_and_share_the_rest() -> None:
    doc = {"Records": [{"s3": {"bucket": {"name": "b"}, "object": {"key": "k"}}}], "other": {"x": 1}}
    before = json.dumps(doc)
    listed = paths(doc)
    rng = random.Random(SEED)
    for _ in range(200):
        out = mutate_tree(rng, doc, 3, listed)
        assert json.dumps(doc) == before
        if type(out) is dict and out.get("other") == {"x": 1}:
            assert out is not doc
    # an untouched branch is shared, not copied
    shared = [mutate_tree(random.Random(i), doc, 1, [("Records", 0, "s3", "object", "key")]) for i in range(20)]
    assert all(type(o) is dict and o["other"] is doc["other"] for o in shared)


def test_fuzz_corpus_includes_every_vendor_payload() -> None:
    names = {name for name, _ in payloads()}
    files = {p.relative_to(DATA).as_posix() for p in Path(DATA).rglob("*") if p.is_file()}
    assert names == files
