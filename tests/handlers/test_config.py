from __future__ import annotations

from pathlib import Path

import pytest

from core.config import ConfigError, load_config, parse_config

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
