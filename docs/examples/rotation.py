"""docs/rotation.md, as a runnable file: rotate an HTTP API key from Python, the way the native triggers
and ``circle rotate`` do, on a local JSON secrets file (``PYTHONPATH=. python docs/examples/rotation.py``).
The same calls work on ``aws-sm://``, ``keyvault://`` and ``gcp-sm://`` stores."""

from __future__ import annotations

import tempfile
from pathlib import Path


def main() -> str:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"file://{Path(tmp) / 'secrets.json'}"
        # --8<-- [start:python]
        from core.handlers.rotation import force_rotation
        from core.secrets import open_secrets
        from core.secrets.rotation import RotationEngine, rotator_for
        from core.secrets.rotation.config import parse_rotations
        from core.secrets.rotation.rotators.hmac_api_key import accepted_keys

        secrets = open_secrets(url)  # "aws-sm://eu-west-1", "keyvault://<vault>", "gcp-sm://<project>"
        secrets.put("circle/api-key-ci", {"kind": "hmac_api_key"})  # the seed: which rotator, no key yet
        engine = RotationEngine(secrets, "circle/api-key-ci", rotator_for("hmac_api_key"))
        first = engine.rotate()  # create -> set -> test -> finish, one fresh token
        engine.rotate()  # dual strategy: the new key is current, the first one stays valid as previous
        assert len(accepted_keys(secrets, "circle/api-key-ci")) == 2

        # What `circle rotate circle/api-key-ci` and the forced-rotation HTTP trigger do: the rotator and
        # strategy come from the [[rotation]] entry of circle.toml, never from the secret's own document.
        entry = {"secrets": url, "secret": "circle/api-key-ci", "rotator": "hmac_api_key"}  # one [[rotation]]
        specs = parse_rotations({"rotation": [entry]})
        result = force_rotation(secrets, "circle/api-key-ci", specs=specs)
        print(result.name, result.outcome)  # circle/api-key-ci finished
        # --8<-- [end:python]
        assert first.outcome == result.outcome == "finished"
        assert first.version != result.version
        return result.outcome


if __name__ == "__main__":
    main()
