"""The Lambda side of the sandbox, run as its own process: what the Lambda service's SQS event source
mapping does, done with boto3 against moto. Long-poll the queue S3 notifies (up to 10 messages, 1 s
batching window), hand the batch to the real ``aws_lambda.handlers.storage_event`` with a Lambda context
(remaining time counts down from the function timeout), then delete exactly the messages the function
acknowledged: those not in ``batchItemFailures`` (``ReportBatchItemFailures``). A failed message becomes
visible again after the queue's visibility timeout and comes back, as on AWS.

Stand-in parts: the poller (the event source mapping) and the context object. Real parts: moto's S3 ->
SQS notifications, the queue, the handler and everything under it."""

from __future__ import annotations

import os
import signal
import sys
import time
from typing import Any

from circle_cli.invoke import LambdaContext  # the documented context, as `circle invoke aws` builds it
from scripts.sandbox import report

FUNCTION_TIMEOUT_SECONDS = 300.0


def _record(message: Any, queue_arn: str) -> dict[str, Any]:
    """An SQS message as the Lambda event source mapping puts it in ``Records``."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": {},
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": "us-east-1",
    }


def main() -> None:
    import boto3

    from aws_lambda import handlers

    report.attach("aws")
    queue_url = os.environ["CIRCLE_SANDBOX_QUEUE_URL"]
    sqs = boto3.client("sqs")
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    running = True

    def stop(*_: Any) -> None:
        nonlocal running
        running = False

    signal.signal(signal.SIGTERM, stop)
    report.send("ready", cloud="aws", pid=os.getpid())
    while running:
        got = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1, AttributeNames=["All"]
        ).get("Messages", [])
        if not got:
            continue
        records = [_record(m, arn) for m in got]
        started = time.monotonic()
        response = handlers.storage_event(
            {"Records": records},
            LambdaContext("circle-sandbox-storage-event", FUNCTION_TIMEOUT_SECONDS),  # type: ignore[arg-type]
        )
        failed = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
        for message in got:
            if message["MessageId"] not in failed:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        report.send(
            "batch",
            cloud="aws",
            messages=len(records),
            failed=sorted(failed),
            seconds=round(time.monotonic() - started, 3),
        )
    sys.exit(0)


if __name__ == "__main__":
    main()
