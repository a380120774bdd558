"""functions-framework target ``secret_rotation``: Secret Manager rotation notifications.

Secret Manager publishes ``SECRET_ROTATE`` to the secret's Pub/Sub topics at ``next_rotation_time`` (and
``TOPIC_CONFIGURED``, ``SECRET_UPDATE``, ... which are ignored); Eventarc delivers the message as a
``google.cloud.pubsub.topic.v1.messagePublished`` CloudEvent. Thin: the work is
``core.handlers.rotation.rotate_on_pubsub``; raising makes Eventarc (deployed with ``--retry``) redeliver,
and a redelivery resumes the same rotation (the token derives from the message id).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import functions_framework
from cloudevents.http import CloudEvent

from core.handlers.rotation import rotate_on_pubsub
from core.handlers.rotation_monitor import RotationMonitor
from core.secrets import SecretsInvalidArgument, SecretStore, open_secrets
from core.secrets.rotation.config import load_rotations

if TYPE_CHECKING:
    from core.monitoring import Sink

ProjectOpener = Callable[[str], SecretStore]


def _sink() -> Sink:
    from gcp_functions.monitoring import GcpSink

    return GcpSink()


#: the function's monitor, built once per instance: ``[monitoring]`` of CIRCLE_CONFIG over the platform
#: sink (``RotationStep`` metrics; a failed step alerts the webhooks once per window)
monitor = RotationMonitor(_sink)
reset_monitor = monitor.reset


def _open_project(project: str) -> SecretStore:
    return open_secrets(f"gcp-sm://{project}", max_age=0)


_opener: ProjectOpener = _open_project
_stores: dict[str, SecretStore] = {}


def use_projects(opener: ProjectOpener | None) -> None:
    """Replace how a project id becomes a store (tests, a custom endpoint)."""
    global _opener
    _opener = opener or _open_project
    _stores.clear()


def _project(project: str) -> SecretStore:
    if project not in _stores:
        _stores[project] = _opener(project)
    return _stores[project]


@functions_framework.cloud_event
def secret_rotation(cloud_event: CloudEvent) -> None:
    """Rotate on SECRET_ROTATE; other Secret Manager event types are acknowledged and ignored."""
    data = cloud_event.get_data()
    if not isinstance(data, dict):
        raise SecretsInvalidArgument("a Pub/Sub CloudEvent carries {message, subscription}", operation="pubsub")
    observer = monitor()
    try:
        rotate_on_pubsub(data, secrets_for_project=_project, specs=load_rotations(), monitor=observer)
    finally:
        observer.flush()  # metrics and alerts once per invocation
