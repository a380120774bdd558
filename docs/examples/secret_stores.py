"""docs/secrets.md, as a runnable file: one interface over every secrets service. Runs on a local JSON
file by default (``PYTHONPATH=. python docs/examples/secrets.py``); tests/docs runs it on moto's
Secrets Manager too (``aws-sm://us-east-1``)."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path


def main(url: str | None = None) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        url = url or f"file://{Path(tmp) / 'secrets.json'}"
        # --8<-- [start:secrets]
        from core.secrets import open_secrets

        secrets = open_secrets(url)  # "aws-sm://eu-west-1", "keyvault://<vault>", ...; max_age=300 by default
        secrets.put("prod/s3", {"access_key_id": "AKIA...", "secret_access_key": "..."})
        access_key_id = secrets.get_json("prod/s3")["access_key_id"]
        # --8<-- [end:secrets]
        assert access_key_id == "AKIA..."
        assert "..." not in repr(secrets.get_secret("prod/s3"))  # values never show in a repr
        print(url.split("://")[0], access_key_id)
        return access_key_id


if __name__ == "__main__":
    main(*sys.argv[1:])
