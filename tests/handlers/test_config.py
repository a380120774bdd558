from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from core.config import ConfigError, load_config, parse_config
from core.events import StorageEvent
from core.storage import open_store

ROOT = Path(__file__).resolve().parents[2]

VALID = """
[stores.src]
url = "s3://incoming/data"
region = "eu-west-1"

[stores.az]
url = "az://replica"
connection_string = "secret://vault/azure"

[[replication]]
source = "src"
prefix = "in/"
suffix = ".csv"
targets = ["az"]
target_prefix = "mirror/"
propagate_deletes = true

[env.prod.stores.src]
url = "s3://prod-incoming"
"""


def test_loads_stores_rules_and_env_overlay(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "circle.toml"
    path.write_text(VALID)
    monkeypatch.setenv("CIRCLE_CONFIG", str(path))
    monkeypatch.delenv("CIRCLE_ENV", raising=False)
    cfg = load_config()
    assert cfg.stores["src"].url == "s3://incoming/data"
    assert (cfg.stores["src"].provider, cfg.stores["src"].bucket, cfg.stores["src"].prefix) == (
        "aws",
        "incoming",
        "data/",
    )
    assert cfg.stores["src"].options == {"region": "eu-west-1"}
    rule = cfg.replication[0]
    assert rule.targets == ("az",) and rule.propagate_deletes and rule.verify
    assert rule.matches("in/a.csv") and not rule.matches("in/a.txt") and not rule.matches("out/a.csv")
    assert rule.target_key("in/a.csv") == "mirror/in/a.csv"

    monkeypatch.setenv("CIRCLE_ENV", "prod")
    prod = load_config()
    assert prod.stores["src"].url == "s3://prod-incoming"
    assert prod.stores["src"].options == {"region": "eu-west-1"}  # the overlay merges, not replaces


def test_secret_values_are_references_not_in_repr() -> None:
    cfg = parse_config({"stores": {"az": {"url": "az://c", "connection_string": "AccountKey=s3cr3t"}}})
    assert "s3cr3t" not in repr(cfg)


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ({"stores": {"a": {"url": "ftp://x"}}}, "stores.a.url"),
        ({"stores": {"a": {}}}, "stores.a.url"),
        (
            {"stores": {"a": {"url": "memory://a"}}, "replication": [{"source": "b", "targets": ["a"]}]},
            "replication[0].source",
        ),
        (
            {"stores": {"a": {"url": "memory://a"}}, "replication": [{"source": "a", "targets": ["a"]}]},
            "replication[0].targets[0]",
        ),
        (
            {
                "stores": {"a": {"url": "memory://a"}, "b": {"url": "memory://b"}},
                "replication": [{"source": "a", "targets": ["b"], "propagate_deletes": "yes"}],
            },
            "replication[0].propagate_deletes",
        ),
        (
            {
                "stores": {"a": {"url": "memory://a"}, "b": {"url": "memory://b"}},
                "replication": [{"source": "a", "targets": ["b"], "prefx": "typo"}],
            },
            "replication[0]",
        ),
        ({"storez": {}}, "storez"),
    ],
)
def test_invalid_config_names_the_field(doc: dict, field: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(doc)
    assert field in str(err.value)


def test_missing_env_and_file_are_clear(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CIRCLE_CONFIG", raising=False)
    with pytest.raises(ConfigError, match="CIRCLE_CONFIG"):
        load_config()
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[stores\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(bad)
    # issue 7: CIRCLE_ENV naming a missing overlay used to be an error; now it means the base file
    # (logged once at INFO) unless the file says required_env = true.
    assert parse_config({"stores": {}}, env="staging").env is None
    with pytest.raises(ConfigError, match=r"env\.staging"):
        parse_config({"stores": {}, "required_env": True}, env="staging")


# -- store options checked at load ------------------------------------------------------------------------
def _one_store(url: str, **options: Any) -> dict[str, Any]:
    return {"stores": {"s": {"url": url, **options}}}


def test_misspelled_option_fails_with_a_suggestion() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(_one_store("s3://bkt", regoin="eu-west-1"))
    assert str(err.value).startswith("stores.s.regoin: unknown option (did you mean region?)")


@pytest.mark.parametrize(
    ("url", "option", "value", "expected"),
    [
        ("s3://b", "read_timeout", "30", "expected a number, got str"),
        ("s3://b", "connect_timeout", True, "expected a number, got bool"),
        ("az://c", "read_timeout", "30", "expected a number, got str"),
        ("az://c", "connection_timeout", True, "expected a number, got bool"),
        ("gs://b", "read_timeout", "30", "expected a number, got str"),
        ("gs://b", "timeout", True, "expected a number, got bool"),  # GCS's own name, an alias
        ("gs://b", "part_size", 300_000, "multiple of 262144"),
        ("s3://b", "max_pool_connections", 1.5, "expected an integer"),
        ("s3://b", "region", 3, "expected a string, got int"),
        ("gs://b", "anonymous", "yes", "expected true or false"),
        ("s3://b", "read_timeout", 0, "greater than 0"),
        ("memory://m", "retry", {"max_atempts": 3}, "did you mean max_attempts"),
        ("file:///tmp/x", "retry", {"max_attempts": 0}, "retry.max_attempts"),
    ],
)
def test_wrong_option_types_are_rejected_the_same_everywhere(url: str, option: str, value: Any, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(_one_store(url, **{option: value}))
    assert str(err.value).startswith(f"stores.s.{option}: ") and expected in str(err.value)


def test_a_wrong_string_is_never_echoed() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(_one_store("az://c", read_timeout="AccountKey=s3cr3t"))
    assert "s3cr3t" not in str(err.value)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"stores": {"a": {}}}, "stores.a.url: missing"),
        ({"stores": {"a": {"url": 5}}}, "stores.a.url: expected a string, got int"),
        (_one_store("gs://"), "stores.s.url: the store URL 'gs://' names no bucket or container"),
        (_one_store("s3:///only/path"), "names no bucket"),
        (_one_store("file://host/x"), "absolute/path"),
        (_one_store("ftp://x"), "expected one of memory://, file://, s3://, az://, gs://"),
        (_one_store("gs://b", credentials="x"), "stores.s.credentials: can be set only from code"),
        (_one_store("s3://b", access_key_id="secret://vault/k#id"), "access_key_id and secret_access_key"),
        (_one_store("s3://b", access_key_id="secret://"), "malformed secret reference"),
        (_one_store("s3://b", profile="nope"), "unknown S3 profile 'nope'"),
        (_one_store("s3://photos", profile="tencent", region="ap-guangzhou"), "stores.s.url: bucket 'photos' is not"),
        (_one_store("s3://b", profile="oci", region="eu-frankfurt-1"), "needs namespace"),
        (_one_store("s3://b", region="a", region_name="b"), "given twice"),
        ({"stores": {}, "replication": [{"source": "a", "targets": ["b"], "prefx": "x"}]}, "prefx -> prefix"),
        ({"stoers": {}}, "stoers -> stores"),
    ],
)
def test_store_and_rule_problems_name_the_field(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_config(doc)


def test_valid_options_secret_references_and_aliases_load() -> None:
    cfg = parse_config(
        {
            "stores": {
                "a": {
                    "url": "s3://bkt",
                    "region_name": "eu-west-1",
                    "aws_access_key_id": "secret://vault/s3#id",
                    "aws_secret_access_key": "secret://vault/s3#key",
                    "read_timeout": 30,
                    "retry": {"max_attempts": 3, "max_backoff": 2.5},
                },
                "b": {"url": "gs://b", "timeout": 12.5, "credentials_file": "/k.json"},
                "c": {"url": "az://c", "account": "acct", "connection_string": "secret://vault/az"},
            }
        }
    )
    assert cfg.secret_references() == ("secret://vault/az", "secret://vault/s3#id", "secret://vault/s3#key")


# -- store identity and event routing ---------------------------------------------------------------------
def _event(provider: str, bucket: str, key: str, account: str | None = None, region: str | None = None) -> StorageEvent:
    return StorageEvent(
        provider=provider,  # type: ignore[arg-type]  # C4: a plain str naming the cloud or profile
        kind="created",
        bucket=bucket,
        key=key,
        event_time=datetime(2026, 1, 1, tzinfo=UTC),
        event_id=f"{provider}:{bucket}:{key}",
        account=account,
        region=region,
    )


def _routed(cfg: Any, event: StorageEvent) -> list[tuple[str, str, str]]:
    """(rule, target, target key) of every route the event handler would take for ``event``."""
    from core.handlers.routing import routes_for_event

    return [(r.rule.name, r.target, r.target_key) for r in routes_for_event(cfg, event)]


def test_two_azure_accounts_with_the_same_container_route_events_correctly() -> None:
    cfg = parse_config(
        {
            "stores": {
                "east": {"url": "az://photos", "account": "EastAcct", "connection_string": "secret://vault/east"},
                "west": {
                    "url": "az://photos",
                    "connection_string": "DefaultEndpointsProtocol=https;AccountName=westacct;AccountKey=a2V5;",
                },
                "lab": {"url": "az://photos", "account_url": "http://127.0.0.1:10000/labacct"},
                "sink": {"url": "memory://sink"},
            },
            "replication": [
                {"source": "east", "targets": ["sink"], "target_prefix": "east/"},
                {"source": "west", "targets": ["sink"], "target_prefix": "west/"},
            ],
        }
    )
    east, west, lab = cfg.stores["east"], cfg.stores["west"], cfg.stores["lab"]
    assert (east.account, west.account, lab.account) == ("eastacct", "westacct", "labacct")
    assert east.identity == ("azure", "eastacct", "photos") != west.identity
    from_east = _event("azure", "photos", "cat.jpg", account="eastacct")
    from_west = _event("azure", "photos", "cat.jpg", account="WestAcct")  # account names: any case
    assert _routed(cfg, from_east) == [("east->sink", "sink", "east/cat.jpg")]
    assert _routed(cfg, from_west) == [("west->sink", "sink", "west/cat.jpg")]
    assert _routed(cfg, _event("azure", "photos", "cat.jpg", account="labacct")) == []  # lab is no source


def test_same_container_sources_whose_account_is_unknown_are_ambiguous() -> None:
    doc = {
        "stores": {
            "a": {"url": "az://photos", "connection_string": "secret://vault/a"},
            "b": {"url": "az://photos", "connection_string": "secret://vault/b"},
            "sink": {"url": "memory://sink"},
        },
        "replication": [
            {"source": "a", "targets": ["sink"], "target_prefix": "a/"},
            {"source": "b", "targets": ["sink"], "target_prefix": "b/"},
        ],
    }
    with pytest.raises(ConfigError, match=r"stores\.a\.account: .*set account"):
        parse_config(doc)
    doc["stores"]["a"]["account"] = "one"  # type: ignore[index]
    doc["stores"]["b"]["account"] = "two"  # type: ignore[index]
    assert parse_config(doc).stores["b"].account == "two"


def test_s3_compatible_profiles_have_their_own_identity() -> None:
    cfg = parse_config(
        {
            "stores": {
                "aws": {"url": "s3://bkt"},
                "do": {"url": "s3://bkt", "profile": "digitalocean", "region": "nyc3"},
                "oci": {"url": "s3://bkt", "profile": "oci", "region": "eu-frankfurt-1", "namespace": "ns1"},
                "minio": {"url": "s3://bkt", "endpoint_url": "http://127.0.0.1:9000/"},
            }
        }
    )
    aws, do, oci, minio = (cfg.stores[n] for n in ("aws", "do", "oci", "minio"))
    assert aws.identity == ("aws", "", "bkt")
    assert do.identity == ("digitalocean", "https://nyc3.digitaloceanspaces.com", "bkt")
    assert oci.identity == ("oci", "ns1", "bkt")
    assert minio.identity == ("aws", "http://127.0.0.1:9000", "bkt")
    event = _event("digitalocean", "bkt", "k")
    assert [s.name for s in (aws, do, oci) if s.relative_key(event) is not None] == ["do"]
    assert oci.relative_key(_event("oci", "bkt", "k", account="ns2")) is None
    assert oci.relative_key(_event("oci", "bkt", "k", account="ns1")) == "k"


def _aws_and_minio(**extra: dict[str, str]) -> dict[str, Any]:
    """Bucket ``bkt`` on AWS and a bucket of the same name on another S3 endpoint, both sources."""
    return {
        "stores": {
            "aws": {"url": "s3://bkt", **extra.get("aws", {})},
            "minio": {"url": "s3://bkt", "endpoint_url": "http://127.0.0.1:9000", **extra.get("minio", {})},
            "sink": {"url": "memory://sink"},
        },
        "replication": [
            {"source": "aws", "targets": ["sink"], "target_prefix": "aws/"},
            {"source": "minio", "targets": ["sink"], "target_prefix": "minio/"},
        ],
    }


def test_s3_sources_an_event_cannot_tell_apart_are_refused_naming_both() -> None:
    # an AWS event names provider "aws" and the bucket, never the endpoint: both stores would take it
    with pytest.raises(ConfigError) as caught:
        parse_config(_aws_and_minio())
    message = str(caught.value)
    assert message.startswith("stores.minio: stores.aws (aws's own endpoint) and stores.minio (http://127.0.0.1:9000)")
    assert "'bkt'" in message and "region" in message
    # a region on only one of them does not tell them apart either (an event may come from either)
    with pytest.raises(ConfigError, match=r"stores\.aws .*region eu-west-1.* and stores\.minio"):
        parse_config(_aws_and_minio(aws={"region": "eu-west-1"}))
    # the same region on both: still one event for two places
    with pytest.raises(ConfigError, match="cannot tell them apart"):
        parse_config(_aws_and_minio(aws={"region": "us-east-1"}, minio={"region": "us-east-1"}))


def test_s3_sources_in_different_regions_route_by_the_events_region() -> None:
    cfg = parse_config(_aws_and_minio(aws={"region": "eu-west-1"}, minio={"region": "us-east-1"}))
    assert _routed(cfg, _event("aws", "bkt", "k", region="eu-west-1")) == [("aws->sink", "sink", "aws/k")]
    assert _routed(cfg, _event("aws", "bkt", "k", region="us-east-1")) == [("minio->sink", "sink", "minio/k")]
    assert _routed(cfg, _event("aws", "bkt", "k", region="ap-south-1")) == []  # neither place
    assert _routed(cfg, _event("aws", "other", "k", region="eu-west-1")) == []
    assert _routed(cfg, _event("aws", "bkt", "k")) == []  # no region: it cannot say which bucket
    assert (cfg.stores["aws"].match_region, cfg.stores["minio"].match_region) == (True, True)


def test_a_lone_s3_source_takes_its_buckets_events_whatever_their_region() -> None:
    # the region option is a client setting (S3 redirects a wrong one): alone, it filters no event
    doc = _aws_and_minio(aws={"region": "us-east-1"})
    del doc["stores"]["minio"], doc["replication"][1]
    cfg = parse_config(doc)
    assert not cfg.stores["aws"].match_region
    assert _routed(cfg, _event("aws", "bkt", "k", region="us-east-2")) == [("aws->sink", "sink", "aws/k")]


def test_an_s3_compatible_source_is_told_apart_from_aws_by_its_provider() -> None:
    doc = _aws_and_minio()
    doc["stores"]["minio"] = {"url": "s3://bkt", "profile": "ibm", "region": "us-south"}
    cfg = parse_config(doc)
    assert _routed(cfg, _event("aws", "bkt", "k", region="us-east-1")) == [("aws->sink", "sink", "aws/k")]
    assert _routed(cfg, _event("ibm", "bkt", "k")) == [("minio->sink", "sink", "minio/k")]
    # two sources on one profile's endpoints: its events carry no region or endpoint
    doc["stores"]["aws"] = {"url": "s3://bkt", "profile": "ibm", "region": "eu-de"}
    with pytest.raises(ConfigError, match=r"stores\.minio: stores\.aws .* 'ibm'.*one of them per deployment"):
        parse_config(doc)


def test_one_bucket_as_two_sources_is_not_ambiguous() -> None:
    doc = _aws_and_minio()
    doc["stores"]["minio"] = {"url": "s3://bkt/raw", "region": "eu-west-1"}  # the same AWS bucket, scoped
    doc["stores"]["aws"]["region"] = "eu-west-1"
    cfg = parse_config(doc)
    event = _event("aws", "bkt", "raw/k", region="eu-west-1")
    assert _routed(cfg, event) == [("aws->sink", "sink", "aws/raw/k"), ("minio->sink", "sink", "minio/k")]


def test_percent_encoded_store_prefix_matches_decoded_event_keys() -> None:
    cfg = parse_config({"stores": {"src": {"url": "memory://pct-src/my%20data"}}})
    src = cfg.stores["src"]
    assert src.prefix == "my data/"
    # open_store unquotes the same way: what the store writes is what events will name
    cfg.open("src").put("hello.txt", b"x")
    [stored] = open_store("memory://pct-src").list()
    assert stored.key == "my data/hello.txt"
    assert src.relative_key(_event("memory", "pct-src", stored.key)) == "hello.txt"
    assert src.relative_key(_event("memory", "pct-src", "my%20data/hello.txt")) is None


def test_rule_prefix_with_escapes_is_literal_and_warned(caplog: pytest.LogCaptureFixture) -> None:
    doc = {
        "stores": {"a": {"url": "memory://a"}, "b": {"url": "memory://b"}},
        "replication": [{"source": "a", "targets": ["b"], "prefix": "my%20data/"}],
    }
    with caplog.at_level(logging.WARNING, logger="circle.config"):
        rule = parse_config(doc).replication[0]
    assert rule.matches("my%20data/x") and not rule.matches("my data/x")
    [record] = [r for r in caplog.records if "percent-escape" in r.getMessage()]
    assert (record.field, record.value) == ("replication[0].prefix", "my%20data/")  # type: ignore[attr-defined]


def test_rule_and_store_prefixes_both_match_the_decoded_key_an_event_carries() -> None:
    """A store URL percent-encodes its prefix (a URL must), a rule writes its prefix as the key text (a
    TOML string can hold any key): both compare with the event's key as the parser decodes it."""
    from core.events import parse_events

    cfg = parse_config(
        {
            "stores": {"src": {"url": "s3://bkt/in%20box"}, "dst": {"url": "memory://dst"}},
            "replication": [{"source": "src", "targets": ["dst"], "prefix": "my data/", "target_prefix": "a b/"}],
        }
    )
    record = {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "us-east-1",
        "eventTime": "2026-01-01T00:00:00.000Z",
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": "bkt"}, "object": {"key": "in+box/my+data/x%2By.txt", "size": 1}},
    }
    [event] = parse_events({"Records": [record]})
    assert event.key == "in box/my data/x+y.txt"  # S3 sends the key URL-encoded, "+" for a space
    assert _routed(cfg, event) == [("src->dst", "dst", "a b/my data/x+y.txt")]


def test_target_key_is_target_prefix_plus_the_source_relative_key() -> None:
    cfg = parse_config(
        {
            "stores": {"src": {"url": "memory://tk-src/in"}, "dst": {"url": "memory://tk-dst"}},
            "replication": [{"source": "src", "targets": ["dst"], "prefix": "data/", "target_prefix": "mirror/"}],
        }
    )
    rule, src = cfg.replication[0], cfg.stores["src"]
    key = src.relative_key(_event("memory", "tk-src", "in/data/hello.txt"))
    assert key == "data/hello.txt" and rule.matches(key)
    assert rule.target_key(key) == "mirror/data/hello.txt"


# -- replication graph ------------------------------------------------------------------------------------
def _rules_doc(stores: dict[str, str], rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {"stores": {n: {"url": u} for n, u in stores.items()}, "replication": rules}


def test_a_two_store_cycle_is_rejected_naming_it() -> None:
    doc = _rules_doc(
        {"a": "memory://cy-a", "b": "memory://cy-b"},
        [{"source": "a", "targets": ["b"]}, {"source": "b", "targets": ["a"]}],
    )
    with pytest.raises(ConfigError) as err:
        parse_config(doc)
    assert "replication[0] (a -> b) -> replication[1] (b -> a) -> replication[0]" in str(err.value)


def test_a_longer_cycle_is_rejected() -> None:
    doc = _rules_doc(
        {"a": "memory://l-a", "b": "memory://l-b", "c": "memory://l-c"},
        [
            {"source": "a", "targets": ["b"], "prefix": "in/"},
            {"source": "b", "targets": ["c"]},
            {"source": "c", "targets": ["a"], "target_prefix": "in/again/"},
        ],
    )
    with pytest.raises(ConfigError, match=r"replication\[0\] \(a -> b\) -> replication\[1\] \(b -> c\) -> "):
        parse_config(doc)


def test_a_rule_writing_under_its_own_source_is_a_cycle() -> None:
    doc = _rules_doc({"root": "s3://bkt", "copies": "s3://bkt/copies"}, [{"source": "root", "targets": ["copies"]}])
    with pytest.raises(ConfigError, match=r"replication\[0\] \(root -> copies\) -> replication\[0\]"):
        parse_config(doc)


def test_disjoint_prefixes_are_not_a_cycle() -> None:
    cfg = parse_config(
        _rules_doc(
            {"a": "memory://d-a", "b": "memory://d-b", "other": "s3://d-b"},
            [
                {"source": "a", "targets": ["b"], "prefix": "data/"},
                {"source": "b", "targets": ["a"], "prefix": "logs/"},
                {"source": "other", "targets": ["a"], "target_prefix": "from-s3/"},  # same bucket name, other cloud
            ],
        )
    )
    assert len(cfg.replication) == 3
    # back into a, but under a prefix the a->b rule does not read
    cfg = parse_config(
        _rules_doc(
            {"a": "memory://e-a", "b": "memory://e-b"},
            [
                {"source": "a", "targets": ["b"], "prefix": "data/"},
                {"source": "b", "targets": ["a"], "target_prefix": "archive/"},
            ],
        )
    )
    assert len(cfg.replication) == 2


# -- degraded targets -------------------------------------------------------------------------------------
def test_degraded_targets_are_reported_once_from_the_registry(caplog: pytest.LogCaptureFixture) -> None:
    profiles = {
        "do": ("digitalocean", "nyc3"),
        "oci": ("oci", "eu-frankfurt-1"),
        "ibm": ("ibm", "us-south"),
        "oss": ("alibaba", "cn-hangzhou"),
        "cos": ("tencent", "ap-guangzhou"),
        "aws": ("aws", "eu-west-1"),
    }
    stores: dict[str, Any] = {
        n: {"url": f"s3://t-{n}-1250000000", "profile": p, "region": r} for n, (p, r) in profiles.items()
    }
    stores["oci"]["namespace"] = "ns"
    stores["src"] = {"url": "memory://deg-src"}
    doc = {"stores": stores, "replication": [{"source": "src", "targets": list(profiles)}]}
    with caplog.at_level(logging.WARNING, logger="circle.config"):
        cfg = parse_config(doc)
    both = ("write_with_if_none_match", "write_with_if_match")
    assert cfg.degraded_targets == {
        "do": both,
        "oci": both,
        "ibm": both,
        "oss": ("write_with_if_match",),
        "cos": ("write_with_if_match",),
    }
    [record] = [r for r in caplog.records if "best-effort" in r.getMessage()]
    assert "stores.oss (alibaba: no compare-and-swap writes)" in record.described  # type: ignore[attr-defined]
    assert record.degraded_targets["do"] == list(both)  # type: ignore[attr-defined]


def test_config_load_imports_no_sdk(tmp_path: Path) -> None:
    config = tmp_path / "circle.toml"
    config.write_text(
        '[stores.a]\nurl = "s3://a-1250000000"\nprofile = "tencent"\nregion = "ap-guangzhou"\n'
        '[stores.b]\nurl = "az://b"\naccount = "x"\n[stores.c]\nurl = "gs://c"\n'
        '[[replication]]\nsource = "c"\ntargets = ["a", "b"]\n'
    )
    code = (
        "import sys; from core.config import load_config; cfg = load_config(sys.argv[1]);"
        "assert dict(cfg.degraded_targets) == {'a': ('write_with_if_match',)}, cfg.degraded_targets;"
        "loaded = [m for m in ('boto3', 'botocore', 'azure.storage', 'google.cloud.storage') if m in sys.modules];"
        "print(loaded)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(config)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert out.stdout.strip() == "[]", out.stderr


# -- [secrets], [dead_letter], required_env, overlays (contract C3) ------------------------------------------
def test_secrets_url_from_file_and_environment() -> None:
    doc = {"stores": {}, "secrets": {"url": "aws-sm://eu-west-1"}}
    assert parse_config(doc).secrets_url == "aws-sm://eu-west-1"
    assert parse_config(doc).secret_stores() == {"vault": "aws-sm://eu-west-1"}
    assert parse_config({"stores": {}}).secrets_url is None
    env = {"CIRCLE_SECRETS_URL": "keyvault://my-vault"}
    assert parse_config(doc, environ=env).secrets_url == "keyvault://my-vault"
    legacy = {"CIRCLE_SECRETS_VAULT": "gcp-sm://proj"}  # the older variable keeps working
    assert parse_config({"stores": {}}, environ=legacy).secrets_url == "gcp-sm://proj"
    assert parse_config(doc, environ={**legacy, **env}).secrets_url == "keyvault://my-vault"
    with pytest.raises(ConfigError, match=r"secrets\.url: 'vault://x' is not a secrets URL; expected one of"):
        parse_config({"stores": {}, "secrets": {"url": "vault://x"}})
    with pytest.raises(ConfigError, match="CIRCLE_SECRETS_URL: 'nope'"):
        parse_config({"stores": {}}, environ={"CIRCLE_SECRETS_URL": "nope"})
    with pytest.raises(ConfigError, match=r"secrets: unknown field\(s\) ulr \(did you mean ulr -> url\?\)"):
        parse_config({"stores": {}, "secrets": {"ulr": "aws-sm://"}})


def test_dead_letter_store_must_exist_and_prefix_defaults() -> None:
    stores = {"dlq": {"url": "memory://dlq"}}
    assert parse_config({"stores": stores}).dead_letter is None
    assert parse_config({"stores": stores, "dead_letter": {"store": "dlq"}}).dead_letter == ("dlq", "dead-letter/")
    custom = parse_config({"stores": stores, "dead_letter": {"store": "dlq", "prefix": "failed/"}})
    assert custom.dead_letter == ("dlq", "failed/")
    with pytest.raises(ConfigError, match=r"dead_letter\.store: unknown store 'nope'"):
        parse_config({"stores": stores, "dead_letter": {"store": "nope"}})
    with pytest.raises(ConfigError, match=r"dead_letter\.store: missing"):
        parse_config({"stores": stores, "dead_letter": {"prefix": "x/"}})


def test_circle_env_is_optional_unless_required(caplog: pytest.LogCaptureFixture) -> None:
    doc = {"stores": {"a": {"url": "memory://a"}}, "env": {"prod": {"stores": {"a": {"url": "memory://p"}}}}}
    with caplog.at_level(logging.INFO, logger="circle.config"):
        assert parse_config(doc, env=None).stores["a"].url == "memory://a"
        assert parse_config(doc, env="staging").env is None
        assert parse_config(doc, env="prod").stores["a"].url == "memory://p"
    lines = [(r.getMessage(), r.reason) for r in caplog.records if r.levelno == logging.INFO]  # type: ignore[attr-defined]
    assert lines == [
        ("using the base configuration", "CIRCLE_ENV is not set"),
        ("using the base configuration", "CIRCLE_ENV=staging names no [env.staging] overlay"),
    ]
    required = {**doc, "required_env": True}
    assert parse_config(required, env="prod").required_env is True
    with pytest.raises(ConfigError, match="required_env: CIRCLE_ENV is not set"):
        parse_config(required)
    with pytest.raises(ConfigError, match=r"env\.staging: .*required_env"):
        parse_config(required, env="staging")
    with pytest.raises(ConfigError, match="required_env: expected true or false"):
        parse_config({"stores": {}, "required_env": "yes"})


def test_rotation_tables_are_still_accepted() -> None:
    doc = {"stores": {}, "rotation": [{"secret": "db", "vault": "aws-sm://", "rotator": "x"}]}
    assert parse_config(doc).stores == {}


def test_load_config_catches_a_misspelled_option_in_the_file(tmp_path: Path) -> None:
    # what `make bundle` runs: the file on disk, the overlay chosen, every store's options checked
    path = tmp_path / "circle.toml"
    path.write_text('[stores.a]\nurl = "s3://bkt"\n[env.prod.stores.a]\nregoin = "eu-west-1"\n')
    assert load_config(path, env="dev").stores["a"].options == {}
    with pytest.raises(ConfigError, match=r"^stores\.a\.regoin: unknown option \(did you mean region\?\)"):
        load_config(path, env="prod")
