"""The provider registry: one entry per store kind, read by open_store, config, rigs and docs;
third-party providers through register_provider() or the ``circle.providers`` entry point group."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.config import ConfigError, parse_config
from core.storage import InvalidArgument, ProviderNotInstalled, open_store, register_provider
from core.storage.options import OptionError, StoreOptions
from core.storage.registry import (
    AZURE_CAPABILITIES,
    GCS_CAPABILITIES,
    ProviderSpec,
    cloud_names,
    lookup,
    providers,
    rig_names,
    unregister_provider,
)
from tests.plugins import scratch_provider
from tests.rigs import RIG_MODULES

ROOT = Path(__file__).resolve().parents[1]


def _run(code: str, *, path: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter importing this worktree (and ``path`` entries first)."""
    pythonpath = os.pathsep.join([*(path or []), str(ROOT)])
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": pythonpath},
        timeout=120,
    )


@pytest.fixture
def scratch() -> Iterator[ProviderSpec]:
    spec = register_provider(scratch_provider.SPEC)
    yield spec
    unregister_provider("scratch")


def test_unknown_scheme_lists_the_known_ones() -> None:
    with pytest.raises(InvalidArgument) as err:
        open_store("ftp://host/x")
    assert "unknown store URL scheme 'ftp'" in str(err.value)
    assert "expected one of memory://, file://, s3://, az://, gs://" in str(err.value)


@pytest.mark.parametrize(
    ("url", "blocked", "extra"),
    [
        ("s3://b", "boto3", "s3"),
        ("az://c", "azure.storage.blob", "azure-blob"),
        ("gs://b", "google.cloud.storage", "gcs"),
    ],
)
def test_a_missing_sdk_says_what_to_install(url: str, blocked: str, extra: str) -> None:
    # a fresh interpreter where the SDK cannot be imported (None in sys.modules blocks the import)
    out = _run(
        f"""
        import sys
        sys.modules[{blocked!r}] = None
        from core.storage import ProviderNotInstalled, open_store
        try:
            open_store({url!r}, connection_string="UseDevelopmentStorage=true") if {url!r}.startswith("az") \\
                else open_store({url!r})
        except ProviderNotInstalled as exc:
            print(type(exc).__mro__[1].__name__, "|", exc.reason)
        """
    )
    assert out.returncode == 0, out.stderr
    parent, reason = out.stdout.strip().split(" | ")
    assert parent == "InvalidArgument"
    assert reason.endswith(f"which is not installed: pip install 'circle-core[{extra}]'")


def test_a_registry_entry_whose_module_is_missing_names_the_extra() -> None:
    broken = ProviderSpec(
        scheme="broken",
        factory="circle_no_such_module.backend:Backend",
        cloud="broken",
        title="Broken",
        options=StoreOptions,
        capabilities=lambda _: AZURE_CAPABILITIES,
        extra="broken",
    )
    register_provider(broken)
    try:
        with pytest.raises(ProviderNotInstalled) as err:
            open_store("broken://b")
        assert err.value.reason == (
            "broken:// stores need circle_no_such_module, which is not installed: pip install 'circle-core[broken]'"
        )
    finally:
        unregister_provider("broken")


def test_a_third_party_provider_is_one_module_and_one_registration(scratch: ProviderSpec) -> None:
    store = open_store("scratch://demo/tenant", max_object_size=4)
    store.put("a.txt", b"1234")
    assert store.get("a.txt").read() == b"1234"
    with pytest.raises(InvalidArgument, match="too large"):
        store.put("b.txt", b"12345")
    with pytest.raises(InvalidArgument, match="max_object_size: expected an integer, got str"):
        open_store("scratch://demo", max_object_size="4")
    # the configuration validates its options and knows its capabilities, like a built-in provider
    doc = {"stores": {"s": {"url": "scratch://demo", "max_object_sise": 3}}}
    with pytest.raises(
        ConfigError, match=r"stores\.s\.max_object_sise: unknown option \(did you mean max_object_size\?\)"
    ):
        parse_config(doc)
    cfg = parse_config(
        {
            "stores": {"s": {"url": "scratch://demo/tenant"}, "m": {"url": "memory://scratch-src"}},
            "replication": [{"source": "m", "targets": ["s"]}],
        }
    )
    assert cfg.stores["s"].provider == "scratch" and cfg.degraded_targets == {}
    assert "scratch" in cloud_names() and lookup("scratch") is scratch


def test_registering_a_taken_scheme_needs_replace(scratch: ProviderSpec) -> None:
    with pytest.raises(InvalidArgument, match="already registered"):
        register_provider(ProviderSpec(**{**_fields(scratch), "title": "another"}))  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="invalid URL scheme"):
        register_provider(ProviderSpec(**{**_fields(scratch), "scheme": "no spaces"}))  # type: ignore[arg-type]


def _fields(spec: ProviderSpec) -> dict[str, object]:
    return {name: getattr(spec, name) for name in ProviderSpec.__slots__}


def test_entry_points_are_read_lazily_only_for_unknown_schemes(tmp_path: Path) -> None:
    dist = tmp_path / "circle_scratch-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: circle-scratch\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[circle.providers]\nscratch = tests.plugins.scratch_provider:SPEC\n")
    out = _run(
        """
        import sys
        from core.storage import open_store
        open_store("memory://x").put("k", b"v")
        cold = "importlib.metadata" in sys.modules
        store = open_store("scratch://from-entry-point", max_object_size=10)
        store.put("k", b"entry")
        print(cold, store.get("k").read().decode(), "importlib.metadata" in sys.modules)
        """,
        path=[str(tmp_path)],
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "entry", "True"]


def test_registry_capabilities_match_the_backends() -> None:
    from core.storage.providers.azure_blob import AzureBlobBackend
    from core.storage.providers.file import FileBackend
    from core.storage.providers.gcs import GCSBackend
    from core.storage.providers.memory import MemoryBackend
    from core.storage.providers.s3 import S3Backend

    assert lookup("memory").capabilities({}) == MemoryBackend.capabilities
    assert lookup("file").capabilities({}) == FileBackend.capabilities
    assert GCSBackend.capabilities == GCS_CAPABILITIES
    key = "DefaultEndpointsProtocol=http;AccountName=a;AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:9/a;"
    assert AzureBlobBackend("c", {"connection_string": key}).capabilities == AZURE_CAPABILITIES
    s3 = lookup("s3")
    assert s3.profiles is not None
    for name, profile in s3.profiles().items():
        options = {"profile": name, "region": "r1", "namespace": "ns", "access_key_id": "k", "secret_access_key": "s"}
        bucket = "b-1250000000"
        assert S3Backend(bucket, options).capabilities == profile.capabilities == s3.capabilities({"profile": name})


def test_rigs_and_event_provider_names_come_from_the_registry() -> None:
    assert rig_names() == RIG_MODULES
    assert RIG_MODULES == [
        "memory",
        "file",
        "s3",
        "s3:digitalocean",
        "s3:oci",
        "s3:ibm",
        "s3:alibaba",
        "s3:tencent",
        "azure",
        "gcs",
    ]
    expected = ("memory", "file", "aws", "digitalocean", "oci", "ibm", "alibaba", "tencent", "azure", "gcp")
    assert cloud_names() == expected  # contract C4's provider names
    for spec in providers():
        assert spec.docs is None or (ROOT / spec.docs).is_file()
        assert issubclass(spec.options, StoreOptions)


def test_options_parse_without_any_sdk() -> None:
    out = _run(
        """
        import sys
        from core.storage.registry import providers
        from core.storage.options import OptionError
        for spec in providers():
            spec.options.parse({"retry": {"max_attempts": 2}})
            try:
                spec.options.parse({"read_timeout": "30"})
            except OptionError as exc:
                print(spec.scheme, exc.problem)
        print([m for m in ("boto3", "botocore", "azure.storage", "google.cloud.storage") if m in sys.modules])
        """
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[-1] == "[]"
    assert sorted(lines[:-1]) == [
        "az expected a number, got str",
        "file unknown option; expected one of retry",
        "gs expected a number, got str",
        "memory unknown option; expected one of retry",
        "s3 expected a number, got str",
    ]


def test_option_error_is_a_value_error() -> None:
    assert issubclass(OptionError, ValueError)


def test_event_provider_names_equal_the_registrys_cloud_names() -> None:
    """``StorageEvent.provider`` names (contract C4) and the stores' provider names are one list: a cloud
    added to the registry without its event name (or the other way round) fails here."""
    import core.events
    from core.events.model import SEED_PROVIDERS

    assert set(SEED_PROVIDERS) == set(cloud_names())
    detected = core.events.REGISTRY.providers  # the clouds whose envelopes a detector parses
    assert detected <= set(cloud_names()), sorted(detected - set(cloud_names()))
    assert SEED_PROVIDERS | detected == core.events.PROVIDERS


def test_bundle_extras_and_doctor_clouds_come_from_the_registry(scratch: ProviderSpec, tmp_path: Path) -> None:
    from circle_cli.ops import CREDENTIAL_SOURCES, _cloud
    from scripts import bundle

    config = tmp_path / "circle.toml"
    urls = {"a": "s3://in", "b": "az://c", "c": "gs://g", "d": "memory://m", "e": "scratch://s", "f": "file:///t"}
    config.write_text("".join(f'[stores.{n}]\nurl = "{u}"\n' for n, u in urls.items()))
    expected = sorted({s.extra for s in providers() if s.extra and s.package == "circle-core"})
    assert bundle.storage_extras(config) == expected == ["azure-blob", "gcs", "s3"]
    assert bundle.provider_requirements(config) == ["circle-scratch"]  # another package: installed by name
    stores = {n: {"url": u} for n, u in urls.items()}
    cfg = parse_config({"stores": {**stores, "do": {"url": "s3://x", "profile": "digitalocean", "region": "nyc3"}}})
    clouds = {name: _cloud(store) for name, store in cfg.stores.items()}
    assert clouds == {"a": "aws", "b": "azure", "c": "gcp", "d": None, "e": None, "f": None, "do": "aws"}
    assert {lookup(s).cloud for s in ("s3", "az", "gs")} == set(CREDENTIAL_SOURCES)
