"""A small evaluator for the CloudFormation intrinsics template.yaml uses, so tests can assert what the
policies resolve to for given parameters (the ARN list built with Split/Sub/Join is easy to get wrong).

Resources referenced with Ref/GetAtt stay symbolic (``<Ref:Name>``, ``<GetAtt:Name.Attr>``)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from cfnlint.decode import cfn_yaml

ACCOUNT = "123456789012"
_NO_VALUE = object()
_SUB_VAR = re.compile(r"\$\{([^}]+)\}")


def load(path: Path) -> dict[str, Any]:
    """The template with short-form tags (!Ref, !Sub, ...) decoded to their long form."""
    template: dict[str, Any] = cfn_yaml.load(str(path))
    return template


class Evaluator:
    def __init__(
        self,
        template: dict[str, Any],
        params: dict[str, Any] | None = None,
        *,
        partition: str = "aws",
        region: str = "us-east-1",
    ) -> None:
        self.template = template
        self.pseudo = {
            "AWS::Partition": partition,
            "AWS::Region": region,
            "AWS::AccountId": ACCOUNT,
            "AWS::StackName": "circle",
            "AWS::URLSuffix": "amazonaws.com",
        }
        self.params: dict[str, Any] = {}
        for name, decl in template.get("Parameters", {}).items():
            value = (params or {}).get(name, decl.get("Default"))
            if value is None:
                raise KeyError(f"parameter {name} has no default: pass a value")
            if decl["Type"] == "CommaDelimitedList" and isinstance(value, str):
                value = value.split(",")
            self.params[name] = value
        self.conditions = {name: self._condition(expr) for name, expr in template.get("Conditions", {}).items()}

    def _condition(self, expr: Any) -> bool:
        return bool(self.resolve(expr))

    def resource(self, name: str) -> dict[str, Any] | None:
        """A resource with its properties resolved, or None when its Condition is false."""
        res = self.template["Resources"][name]
        if "Condition" in res and not self.conditions[res["Condition"]]:
            return None
        resolved: dict[str, Any] = self.resolve(res)
        return resolved

    def resolve(self, node: Any) -> Any:
        if isinstance(node, dict):
            if len(node) == 1:
                ((key, arg),) = node.items()
                fn = _FUNCTIONS.get(key)
                if fn is not None:
                    return fn(self, arg)
            out = {k: self.resolve(v) for k, v in node.items()}
            return {k: v for k, v in out.items() if v is not _NO_VALUE}
        if isinstance(node, list):
            return [v for v in (self.resolve(x) for x in node) if v is not _NO_VALUE]
        return node

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return _NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.params:
            return self.params[name]
        if name in self.template["Resources"]:
            return f"<Ref:{name}>"
        raise KeyError(f"Ref to unknown name {name}")

    def sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))

        def repl(m: re.Match[str]) -> str:
            name = m.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name and not name.startswith("AWS::"):
                return f"<GetAtt:{name}>"
            value = self.ref(name)
            if isinstance(value, list):
                raise TypeError(f"Fn::Sub of list parameter {name}")
            return str(value)

        return _SUB_VAR.sub(repl, text)


def _if(ev: Evaluator, arg: list[Any]) -> Any:
    cond, yes, no = arg
    return ev.resolve(yes if ev.conditions[cond] else no)


def _join(ev: Evaluator, arg: list[Any]) -> str:
    delim, items = arg
    assert isinstance(delim, str), "Fn::Join delimiter must be a literal string"
    return delim.join(str(x) for x in ev.resolve(items))


def _split(ev: Evaluator, arg: list[Any]) -> list[str]:
    delim, text = arg
    return str(ev.resolve(text)).split(delim)


def _getatt(ev: Evaluator, arg: Any) -> str:
    name, attr = arg if isinstance(arg, list) else arg.split(".", 1)
    if name not in ev.template["Resources"]:
        raise KeyError(f"GetAtt on unknown resource {name}")
    return f"<GetAtt:{name}.{attr}>"


_FUNCTIONS: dict[str, Any] = {
    "Ref": lambda ev, arg: ev.ref(arg),
    "Fn::Sub": lambda ev, arg: ev.sub(arg),
    "Fn::Join": _join,
    "Fn::Split": _split,
    "Fn::If": _if,
    "Fn::GetAtt": _getatt,
    "Fn::Select": lambda ev, arg: ev.resolve(arg[1])[int(ev.resolve(arg[0]))],
    "Fn::Equals": lambda ev, arg: ev.resolve(arg[0]) == ev.resolve(arg[1]),
    "Fn::Not": lambda ev, arg: not ev.resolve(arg[0]),
    "Fn::And": lambda ev, arg: all(ev.resolve(x) for x in arg),
    "Fn::Or": lambda ev, arg: any(ev.resolve(x) for x in arg),
    "Condition": lambda ev, arg: ev.conditions[arg],
}
