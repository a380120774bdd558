"""The Secrets Manager rotation Lambda: ``rotation(event, context)``. Thin: read the four-step event,
call ``core.handlers.rotation.aws_step``, raise on failure (Secrets Manager then marks the rotation
failed and retries it on its own schedule).

The event is ``{"Step", "SecretId", "ClientRequestToken", "RotationToken"?}``; the function's role
needs DescribeSecret/GetSecretValue/PutSecretValue/UpdateSecretVersionStage on the secret plus what the
rotator needs (IAM key calls for ``aws_iam_access_key``); see docs/rotation.md and template.yaml.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core.handlers.rotation import aws_step
from core.handlers.rotation_monitor import RotationMonitor
from core.secrets import open_secrets
from core.secrets.errors import SecretsInvalidArgument
from core.secrets.rotation.config import load_rotations

if TYPE_CHECKING:
    from core.monitoring import Sink


def _sink() -> Sink:
    from aws_lambda.monitoring import EmfSink

    return EmfSink()


#: the function's monitor, built once per container: ``[monitoring]`` of CIRCLE_CONFIG over the platform
#: sink (``RotationStep`` metrics; a failed step alerts the webhooks once per window)
monitor = RotationMonitor(_sink)
reset_monitor = monitor.reset


def _client() -> Any:
    import boto3  # the adapter may import the SDK; AWS_ENDPOINT_URL / region come from the environment

    session: Any = boto3.session.Session()
    return session.client("secretsmanager")


def rotation(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """One rotation step. Returns a small summary (Secrets Manager ignores it; logs and tests use it)."""
    missing = [k for k in ("Step", "SecretId", "ClientRequestToken") if not event.get(k)]
    if missing:
        raise SecretsInvalidArgument(f"rotation event without {', '.join(missing)}", operation="rotate")
    client = _client()
    secrets = open_secrets("aws-sm://", client=client, max_age=0)  # every step reads the service afresh
    observer = monitor()
    try:
        result = aws_step(
            str(event["Step"]),
            str(event["SecretId"]),
            str(event["ClientRequestToken"]),
            secrets=secrets,
            describe=lambda secret_id: client.describe_secret(SecretId=secret_id),
            specs=load_rotations(),
            monitor=observer,
        )
    finally:
        secrets.close()
        observer.flush()  # EMF documents and alert webhooks once per invocation
    return {"step": event["Step"], "secret": result.name, "version": result.version, "outcome": result.outcome}
