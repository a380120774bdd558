"""The Lambda context object's documented attributes, as the runtime passes them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class LambdaContext:
    function_name: str = "circle-core-test"
    function_version: str = "$LATEST"
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:circle-core-test"
    memory_limit_in_mb: int = 256
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"
    log_group_name: str = "/aws/lambda/circle-core-test"
    log_stream_name: str = "2026/11/28/[$LATEST]0"
    remaining: Callable[[], int] = lambda: 300_000  # what the runtime clock would answer

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining()
