"""The AWS front door of the HTTP API is a template parameter (``HttpApiAuth``): NONE (the default: the
core alone authenticates, so README's API-key curl examples pass the gateway), JWT (API Gateway's JWT
authorizer first) or IAM (SigV4-signed requests). Each variant resolves to the routes it promises and
is cfn-lint clean."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.deploy.cfn_eval import Evaluator, load
from tests.deploy.test_template import PARAMS, TEMPLATE, _lint

ROUTES = ("HttpApiProxyRoute", "HttpApiHealthRoute", "HttpApiOpenApiRoute")


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load(TEMPLATE)


def _routes(template: dict[str, Any], **params: str) -> dict[str, dict[str, Any]]:
    ev = Evaluator(template, {**PARAMS, **params})
    out = {}
    for name in ROUTES:
        resource = ev.resource(name)
        assert resource is not None
        out[resource["Properties"]["RouteKey"]] = resource["Properties"]
    authorizer = ev.resource("HttpApiJwtAuthorizer")
    if authorizer is not None:
        out["authorizer"] = authorizer["Properties"]
    return out


def test_the_default_front_door_lets_api_key_callers_reach_the_core(template: dict[str, Any]) -> None:
    assert template["Parameters"]["HttpApiAuth"]["Default"] == "NONE"
    routes = _routes(template)
    assert "authorizer" not in routes
    assert {k: r["AuthorizationType"] for k, r in routes.items()} == {
        "ANY /{proxy+}": "NONE",
        "GET /health": "NONE",
        "GET /openapi.json": "NONE",
    }
    assert all("AuthorizerId" not in r for r in routes.values())
    assert {r["Target"] for r in routes.values()} == {"integrations/<Ref:HttpApiIntegration>"}


def test_jwt_puts_the_oidc_authorizer_on_every_route_but_the_public_two(template: dict[str, Any]) -> None:
    routes = _routes(template, HttpApiAuth="JWT", HttpJwtIssuer="https://idp.example/", HttpJwtAudience="aud-1")
    proxy = routes["ANY /{proxy+}"]
    assert (proxy["AuthorizationType"], proxy["AuthorizerId"]) == ("JWT", "<Ref:HttpApiJwtAuthorizer>")
    assert routes["authorizer"]["JwtConfiguration"] == {"Issuer": "https://idp.example/", "Audience": ["aud-1"]}
    assert routes["authorizer"]["IdentitySource"] == ["$request.header.Authorization"]
    assert routes["GET /health"]["AuthorizationType"] == routes["GET /openapi.json"]["AuthorizationType"] == "NONE"


def test_iam_requires_sigv4_and_no_authorizer(template: dict[str, Any]) -> None:
    routes = _routes(template, HttpApiAuth="IAM")
    assert "authorizer" not in routes
    assert routes["ANY /{proxy+}"]["AuthorizationType"] == "AWS_IAM"
    assert "AuthorizerId" not in routes["ANY /{proxy+}"]
    assert routes["GET /health"]["AuthorizationType"] == "NONE"


def test_the_gateway_may_invoke_the_function_with_payload_2() -> None:
    ev = Evaluator(load(TEMPLATE), PARAMS)
    integration = ev.resource("HttpApiIntegration")
    permission = ev.resource("HttpApiInvokePermission")
    assert integration is not None and permission is not None
    assert integration["Properties"]["PayloadFormatVersion"] == "2.0"
    assert integration["Properties"]["IntegrationUri"] == "<GetAtt:HttpApiFunction.Arn>"
    assert permission["Properties"]["Principal"] == "apigateway.amazonaws.com"
    assert permission["Properties"]["SourceArn"].endswith(":<Ref:HttpApi>/*")


def test_every_front_door_variant_is_cfn_lint_clean(tmp_path: Path) -> None:
    text = TEMPLATE.read_text()
    default = "    Default: NONE\n    AllowedValues: [NONE, JWT, IAM]\n"
    assert text.count(default) == 1
    variants = []
    for value in ("JWT", "IAM"):
        path = tmp_path / f"template-{value.lower()}.yaml"
        path.write_text(text.replace(default, default.replace("NONE\n", f"{value}\n", 1)))
        variants.append(path)
    broken = tmp_path / "template-broken.yaml"
    broken.write_text(text.replace("!If [HttpApiJwtAuth, JWT", "!If [HttpApiJwtAuthz, JWT", 1))  # no such condition
    matches = _lint(*variants, broken)
    ours = [m for m in matches if Path(m["Filename"]) in variants]
    assert ours == [], "\n".join(f"{m['Filename']}: {m['Rule']['Id']} {m['Message']}" for m in ours)
    assert any(Path(m["Filename"]) == broken and m["Level"] == "Error" for m in matches), matches
