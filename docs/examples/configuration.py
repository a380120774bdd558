"""docs/configuration.md "From code", as a runnable file (``PYTHONPATH=. python docs/examples/configuration.py``):
the same configuration read from a file (as the functions do, through CIRCLE_CONFIG) and from a dict."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

TOML = """
[stores.primary]
url = "memory://incoming"

[stores.backup]
url = "memory://replica"

[[replication]]
source = "primary"
prefix = "data/"
targets = ["backup"]
target_prefix = "mirror/"

[env.prod.stores.backup]
url = "memory://replica-prod"
"""

document = {
    "stores": {"primary": {"url": "memory://incoming"}, "backup": {"url": "memory://replica"}},
    "replication": [{"source": "primary", "prefix": "data/", "targets": ["backup"]}],
    "env": {"prod": {"stores": {"backup": {"url": "memory://replica-prod"}}}},
}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "circle.toml"
        path.write_text(TOML)
        os.environ["CIRCLE_CONFIG"] = str(path)
        os.environ.pop("CIRCLE_ENV", None)
        # --8<-- [start:from-code]
        from core.config import load_config, parse_config

        config = load_config()  # CIRCLE_CONFIG, CIRCLE_ENV, CIRCLE_SECRETS_URL
        config = parse_config(document, env="prod")  # a dict, no environment overrides
        store = config.open("primary")  # open_store(url, **options)
        # --8<-- [end:from-code]
        assert load_config().stores["backup"].url == "memory://replica"  # no CIRCLE_ENV: the base file
        assert config.stores["backup"].url == "memory://replica-prod"  # the prod overlay
        store.put("data/x", b"x")
        print(store.url, [o.key for o in store.list()])  # type: ignore[union-attr]


if __name__ == "__main__":
    main()
