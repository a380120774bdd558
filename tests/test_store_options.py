"""Typed store options: the same strict checks for every provider, aliases where a cloud names an
option differently, and the providers building their clients from the validated values."""

from __future__ import annotations

from typing import Any

import pytest

from core.storage import InvalidArgument, ObjectStore, open_store
from core.storage.options import (
    TYPE_NAMES,
    AzureBlobOptions,
    GCSOptions,
    OptionError,
    S3Options,
    StoreOptions,
)
from core.storage.registry import providers

AZ_KEY = "DefaultEndpointsProtocol=http;AccountName=a;AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:9/a;"
BASE: dict[str, dict[str, Any]] = {
    "s3": {"region": "us-east-1", "access_key_id": "k", "secret_access_key": "s"},
    "az": {"connection_string": AZ_KEY},
    "gs": {"endpoint_url": "http://127.0.0.1:9", "anonymous": True},
}


def _open(scheme: str, **options: Any) -> ObjectStore:
    return open_store(f"{scheme}://bucket", **{**BASE[scheme], **options})


@pytest.mark.parametrize("scheme", ["s3", "az", "gs"])
@pytest.mark.parametrize("option", ["connect_timeout", "read_timeout"])
@pytest.mark.parametrize("bad", ["30", True, [30], -1, 0])
def test_timeouts_are_checked_the_same_on_every_cloud(scheme: str, option: str, bad: Any) -> None:
    with pytest.raises(InvalidArgument, match=f"option {option}: "):
        _open(scheme, **{option: bad})


def test_providers_build_their_clients_from_the_validated_options() -> None:
    s3 = open_store(
        "s3://bucket",
        connect_timeout=3,
        read_timeout=7.5,
        region_name="eu-west-1",  # boto3's own name
        aws_access_key_id="k",
        aws_secret_access_key="s",
        max_pool_connections=5,
    )
    config = s3._backend.client.meta.config  # type: ignore[attr-defined]
    assert (config.connect_timeout, config.read_timeout, config.max_pool_connections) == (3, 7.5, 5)
    assert config.region_name == "eu-west-1"

    gcs = _open("gs", timeout=7)  # GCS's own name for the read timeout
    assert gcs._backend.timeout == (10.0, 7)  # type: ignore[attr-defined]
    assert _open("gs", connect_timeout=2.5)._backend.timeout == (2.5, 60.0)  # type: ignore[attr-defined]

    az = _open("az", connection_timeout=3, read_timeout=7)  # the Azure SDK's name for connect_timeout
    transport = az._backend._service._pipeline._transport  # type: ignore[attr-defined]
    assert (transport.connection_config.timeout, transport.connection_config.read_timeout) == (3, 7)


def test_azure_account_builds_the_account_url() -> None:
    store = open_store("az://c", account="myacct", credential="a2V5")
    assert store._backend._service.url == "https://myacct.blob.core.windows.net/"  # type: ignore[attr-defined]


def test_aliases_and_names_cannot_both_be_given() -> None:
    with pytest.raises(InvalidArgument, match=r"option region_name: given twice \(as region and region_name\)"):
        _open("s3", region_name="x")


def test_secret_values_stay_out_of_errors_and_reprs() -> None:
    with pytest.raises(InvalidArgument) as err:
        _open("az", read_timeout="AccountKey=s3cr3t")
    assert "s3cr3t" not in str(err.value)
    opts = S3Options.parse({"access_key_id": "AKIAXYZ", "secret_access_key": "s3cr3t", "region": "r"})
    assert "s3cr3t" not in repr(opts) and "AKIAXYZ" not in repr(opts) and "region='r'" in repr(opts)
    assert opts.given() == {"access_key_id": "AKIAXYZ", "secret_access_key": "s3cr3t", "region": "r"}


def test_options_are_immutable_and_typed() -> None:
    opts = GCSOptions.parse({"timeout": 5, "anonymous": True})
    assert (opts.read_timeout, opts.connect_timeout, opts.anonymous, opts.part_size) == (5, 10.0, True, 24 * 1024**2)
    with pytest.raises(AttributeError):
        opts.read_timeout = 3  # type: ignore[misc]
    assert opts == GCSOptions.parse({"read_timeout": 5, "anonymous": True})
    with pytest.raises(OptionError, match="anonymous and credentials_file cannot be combined"):
        GCSOptions.parse({"anonymous": True, "credentials_file": "/k.json"})
    with pytest.raises(OptionError, match="either connection_string or account_url"):
        AzureBlobOptions.parse({"connection_string": "x", "account_url": "https://a.blob.core.windows.net"})


def test_every_option_is_documented_with_a_known_type() -> None:
    for spec in providers():
        names: set[str] = set()
        for name, option in spec.options.specs().items():
            assert option.doc.strip() and option.kind in TYPE_NAMES, (spec.scheme, name)
            for alias in (name, *option.aliases):
                assert alias not in names, (spec.scheme, alias)
                names.add(alias)
        # the defaults are valid values of their own options
        defaults = {n: o.default for n, o in spec.options.specs().items() if o.default is not None}
        assert isinstance(spec.options.parse(defaults), StoreOptions)
