"""Storage events normalised per second: a 10,000-record SQS batch of S3 notifications (the shape
S3 -> SQS -> Lambda delivers) through ``parse_events``. Best of several runs.

The headline is the input Lambda hands a handler: the event already decoded to a dict, each SQS body
still JSON text (decoding those bodies is part of the measured work). Parsing the whole batch from
JSON text is measured too.

    .venv/bin/python -m bench.bench_events [--records 10000] [--runs 7]

Target: >= 50,000 events/s on one core (pure Python, no SDK).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from core.events import parse_events

TARGET = 50_000


def s3_record(i: int) -> dict[str, Any]:
    """A realistic S3 notification record: encoded key, version, sequencer, millisecond time."""
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "eu-west-1",
        "eventTime": f"2024-05-01T12:{(i // 60) % 60:02d}:{i % 60:02d}.{i % 1000:03d}Z",
        "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "AWS:AIDAINPONIXQXHT3IKHL2"},
        "requestParameters": {"sourceIPAddress": "203.0.113.7"},
        "responseElements": {
            "x-amz-request-id": f"D82B88E5F771{i:04X}",
            "x-amz-id-2": "vlR7PnpV2Ce81l0PRw6jlUpck7Jo5ZsQjryTjKlc5aLWGVHPZLj5NeC6qMa0em",
        },
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "replicate",
            "bucket": {
                "name": "circle-source",
                "ownerIdentity": {"principalId": "A3I5XTEXAMAI3E"},
                "arn": "arn:aws:s3:::circle-source",
            },
            "object": {
                "key": f"incoming/2024-05-01/report+{i}%281%29.csv",
                "size": 1024 + i,
                "eTag": "b21b84d653bb07b05b1e6b33684dc11b",
                "versionId": f"v{i:08d}.nfljtsv6qko",
                "sequencer": f"0055AED6DC{i:08X}",
            },
        },
    }


def sqs_batch(records: int) -> str:
    """The Lambda event for an SQS batch whose bodies are S3 notifications (raw delivery)."""
    messages = []
    for i in range(records):
        messages.append(
            {
                "messageId": f"059f36b4-87a3-44ab-83d2-{i:012d}",
                "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a...",
                "body": json.dumps({"Records": [s3_record(i)]}),
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": "1545082649183",
                    "SenderId": "AIDAIENQZJOLO23YVJ4VO",
                    "ApproximateFirstReceiveTimestamp": "1545082649185",
                },
                "messageAttributes": {},
                "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:events",
                "awsRegion": "eu-west-1",
            }
        )
    return json.dumps({"Records": messages})


def measure(payload: Any, runs: int) -> tuple[int, float, float]:
    """(events per run, best wall seconds, best CPU seconds) over ``runs`` parses of ``payload``.
    CPU time is reported too because a shared CI machine inflates wall time."""
    best_wall = best_cpu = float("inf")
    count = 0
    for _ in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        events = parse_events(payload)
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
        count = len(events)
    return count, best_wall, best_cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args(argv)
    text = sqs_batch(args.records)
    event = json.loads(text)
    print(
        f"batch: {args.records} S3 notifications as SQS messages ({len(text) / 1e6:.1f} MB of JSON), "
        f"best of {args.runs}"
    )
    rates = {}
    for label, payload in (("Lambda event dict (bodies still JSON text)", event), ("whole batch as JSON text", text)):
        count, wall, cpu = measure(payload, args.runs)
        assert count == args.records, f"expected {args.records} events, got {count}"
        rates[label] = count / wall
        print(
            f"  {label}: {wall * 1000:.1f} ms wall, {cpu * 1000:.1f} ms CPU -> "
            f"{count / wall:,.0f} events/s ({count / cpu:,.0f} per CPU-second)"
        )
    headline = rates["Lambda event dict (bodies still JSON text)"]
    print(f"events/s: {headline:,.0f} (target >= {TARGET:,}: {'ok' if headline >= TARGET else 'BELOW TARGET'})")
    return 0 if headline >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
