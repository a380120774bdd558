"""Monitoring costs the cold path nothing it does not use: importing each adapter loads neither the
Cloud Monitoring client, nor the OpenTelemetry SDK and Azure Monitor exporter, nor the X-Ray SDK."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("google.cloud.monitoring_v3", "opentelemetry.sdk", "azure.monitor", "aws_xray_sdk", "urllib.request")


@pytest.mark.parametrize("module", ["aws_lambda.handlers", "gcp_functions.main", "azure_functions.app"])
def test_importing_an_adapter_loads_no_monitoring_sdk(module: str) -> None:
    code = f"import sys, json, {module}; print(json.dumps(sorted(sys.modules)))"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "APPLICATIONINSIGHTS_CONNECTION_STRING": "", "CIRCLE_TRACING": ""}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, check=True)
    loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    assert [m for m in loaded if m.startswith(HEAVY)] == []
    assert "core.monitoring.layer" not in loaded  # the storage layer loads with the first monitored store
