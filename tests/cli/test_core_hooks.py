"""The two core hooks the command line relies on: ``copy_object(progress=)`` (contract P1) and the
WARNING line per retry on ``circle.storage.retry``."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import pytest

from core.storage import TransientError, copy_object, open_store
from core.storage.errors import NotFound
from core.storage.retry import RetryPolicy

SIZE = 3 * 1024 * 1024 + 123  # several chunks


def test_copy_progress_counts_up_to_the_size_between_memory_stores() -> None:
    src, dst = open_store(f"memory://p-{uuid.uuid4().hex}"), open_store(f"memory://q-{uuid.uuid4().hex}")
    src.put("big.bin", b"x" * SIZE)
    seen: list[int] = []
    copy_object(src, "big.bin", dst, "copy.bin", progress=seen.append)
    assert seen[0] == 0 and seen[-1] == SIZE
    assert seen == sorted(seen) and len(seen) >= 3
    assert dst.head("copy.bin").size == SIZE


def test_copy_progress_between_emulated_clouds(emulators: Any, emulator_env: dict[str, str]) -> None:
    bucket = f"prog-{uuid.uuid4().hex[:12]}"
    emulators.create_bucket("s3", bucket)
    emulators.create_bucket("gs", bucket)
    src, dst = open_store(f"s3://{bucket}"), open_store(f"gs://{bucket}")
    src.put("big.bin", b"y" * SIZE)
    seen: list[int] = []
    copy_object(src, "big.bin", dst, "big.bin", progress=seen.append)
    assert seen[0] == 0 and seen[-1] == SIZE and seen == sorted(seen)


def test_no_progress_callback_is_the_default_and_a_failed_copy_reports_nothing_past_zero() -> None:
    src, dst = open_store(f"memory://r-{uuid.uuid4().hex}"), open_store(f"memory://s-{uuid.uuid4().hex}")
    seen: list[int] = []
    with pytest.raises(NotFound):
        copy_object(src, "absent", dst, "absent", progress=seen.append)
    assert seen == []  # the source was never opened


def test_each_retry_is_one_warning_with_the_attempt_and_the_cause(caplog: pytest.LogCaptureFixture) -> None:
    failures = iter([TransientError("connection refused", operation="head"), TransientError("503", operation="head")])

    def flaky() -> str:
        error = next(failures, None)
        if error is not None:
            raise error
        return "done"

    policy = RetryPolicy(max_attempts=5, sleep=lambda s: None)
    with caplog.at_level(logging.WARNING, logger="circle.storage.retry"):
        assert policy.call(flaky) == "done"
    records = [r for r in caplog.records if r.name == "circle.storage.retry"]
    assert [r.levelno for r in records] == [logging.WARNING, logging.WARNING]
    assert [r.getMessage() for r in records] == ["retrying after a failed attempt"] * 2
    fields = [(r.operation, r.attempt, r.max_attempts, r.error, r.reason) for r in records]  # type: ignore[attr-defined]
    assert fields == [("head", 1, 5, "TransientError", "connection refused"), ("head", 2, 5, "TransientError", "503")]


def test_a_final_failure_and_a_non_retryable_error_log_no_retry_line(caplog: pytest.LogCaptureFixture) -> None:
    def always() -> None:
        raise TransientError("down", operation="get")

    with caplog.at_level(logging.WARNING, logger="circle.storage.retry"), pytest.raises(TransientError):
        RetryPolicy(max_attempts=2, sleep=lambda s: None).call(always)
    assert len([r for r in caplog.records if r.name == "circle.storage.retry"]) == 1  # attempt 1 only
    caplog.clear()

    def missing() -> None:
        raise NotFound("no such key", operation="get")

    with caplog.at_level(logging.WARNING, logger="circle.storage.retry"), pytest.raises(NotFound):
        RetryPolicy(sleep=lambda s: None).call(missing)
    assert [r for r in caplog.records if r.name == "circle.storage.retry"] == []
