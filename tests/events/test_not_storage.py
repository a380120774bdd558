"""Payloads every cloud sends a function that are not storage changes: a named EventError, never
another exception and never an event (API Gateway, CloudWatch, Secrets Manager, Key Vault, timers...)."""

from __future__ import annotations

import pytest

from core.events import EventError, parse_batch, parse_events
from tests.events._data import raw


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("lambdago_apigw-v2-request-no-authorizer.json", r"^payload has an unknown envelope"),
        (
            "lambdago_cloudwatch-alarm-sns-payload-single-metric.json",
            r"^Records\[0\]\.Sns\.Message has an unknown envelope",
        ),
        ("lambdago_cloudwatch-logs-event.json", r"^payload has an unknown envelope \(keys: awslogs\)"),
        ("lambdago_lambda-urls-request.json", r"^payload has an unknown envelope"),
        ("powertools_apiGatewayProxyEvent.json", r"^payload has an unknown envelope"),
        ("powertools_apiGatewayProxyV2Event.json", r"^payload has an unknown envelope"),
        ("powertools_awsConfigRuleScheduled.json", r"^payload has an unknown envelope"),
        ("powertools_cloudWatchAlarmEventSingleMetric.json", r"^payload has an unknown envelope"),
        ("powertools_cloudWatchLogEvent.json", r"^payload has an unknown envelope"),
        ("powertools_lambdaFunctionUrlEvent.json", r"^payload has an unknown envelope"),
        ("powertools_s3ObjectEventIAMUser.json", r"^payload has an unknown envelope"),  # S3 Object Lambda
        ("powertools_secretsManagerEvent.json", r"^payload has an unknown envelope"),
        ("secretsmanager-rotation-createSecret.json", r"^payload has an unknown envelope"),
        ("rust_example-eventbridge-schedule.json", r"^source is 'aws\.events'"),
        ("funclib_blob_trigger_Properties_metadata.json", r"^payload has an unknown envelope"),
        ("funclib_timer_TimerRequest_payload.json", r"^payload has an unknown envelope"),
        (
            "keyvault-SecretNearExpiry.eventgrid-schema.secondary.json",
            r"^eventType is 'Microsoft\.KeyVault\.SecretNearExpiry'",
        ),
        (
            "keyvault-SecretNewVersionCreated.cloudevents-schema.json",
            r"^\[0\]\.type is 'Microsoft\.KeyVault\.SecretNewVersionCreated'",
        ),
    ],
)
def test_other_services_payloads_are_refused(name: str, message: str) -> None:
    with pytest.raises(EventError, match=message):
        parse_events(raw(name))
    try:
        batch = parse_batch(raw(name))
    except EventError:
        return
    assert batch.events == [] and batch.failures and all(type(f.error) is EventError for f in batch.failures)
