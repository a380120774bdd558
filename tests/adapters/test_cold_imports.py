"""Cold start: each adapter imports its own cloud's SDK and no other cloud's; core imports none."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

SDK_ROOTS = {
    "aws": ("boto3", "botocore", "aws_lambda_powertools"),
    "azure": ("azure",),
    "gcp": ("google", "functions_framework", "cloudevents"),
}
ENTRY = {"aws": "aws_lambda.handlers", "azure": "azure_functions.app", "gcp": "gcp_functions.main"}


def _loaded_roots(module: str) -> set[str]:
    """Top-level packages that importing ``module`` loads, in a fresh interpreter (modules present at
    start-up, such as the ``google`` namespace stubs that *-nspkg.pth files create, do not count)."""
    code = (
        "import json, sys; before = set(sys.modules); import " + module + "; "
        "print(json.dumps(sorted({m.split('.')[0] for m in set(sys.modules) - before})))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return set(json.loads(out))


@pytest.mark.parametrize("cloud", list(ENTRY))
def test_an_adapter_loads_only_its_own_clouds_sdk(cloud: str) -> None:
    roots = _loaded_roots(ENTRY[cloud])
    assert ENTRY[cloud].split(".")[0] in roots
    for other, sdk_roots in SDK_ROOTS.items():
        loaded = roots & set(sdk_roots)
        if other == cloud:
            assert loaded, f"{cloud} adapter should load its platform SDK"
        else:
            assert not loaded, f"{cloud} adapter loaded {other} SDK modules {sorted(loaded)}"


def test_core_and_its_handlers_load_no_cloud_sdk() -> None:
    roots = _loaded_roots(
        "core, core.storage, core.events, core.config, core.secrets, "
        "core.handlers.storage_events, core.handlers.http_events"
    )
    assert not roots & {r for rs in SDK_ROOTS.values() for r in rs}
