"""A checker for CloudWatch Embedded Metric Format documents, written from the specification
(docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html):

- the root is a JSON object with an ``_aws`` metadata object holding ``Timestamp`` (milliseconds since
  the epoch, a number) and ``CloudWatchMetrics`` (an array of MetricDirective objects);
- a MetricDirective has ``Namespace`` (1-255 characters), ``Dimensions`` (an array of DimensionSets)
  and ``Metrics`` (an array of at most 100 MetricDefinitions);
- a DimensionSet is an array of at most 30 strings, each naming a root member whose value is a string;
- a MetricDefinition has ``Name`` (1-255 characters, naming a root member that is a number or an array
  of at most 100 numbers), an optional ``Unit`` from CloudWatch's list and an optional
  ``StorageResolution`` of 1 or 60;
- a document is at most 1 MB (one CloudWatch Logs event).
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema

UNITS = [
    "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes",
    "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count", "Bytes/Second",
    "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second", "Bits/Second",
    "Kilobits/Second", "Megabits/Second", "Gigabits/Second", "Terabits/Second", "Count/Second", "None",
]  # fmt: skip

SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["_aws"],
    "properties": {
        "_aws": {
            "type": "object",
            "required": ["Timestamp", "CloudWatchMetrics"],
            "properties": {
                "Timestamp": {"type": "integer", "minimum": 0},
                "CloudWatchMetrics": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["Namespace", "Dimensions", "Metrics"],
                        "additionalProperties": False,
                        "properties": {
                            "Namespace": {"type": "string", "minLength": 1, "maxLength": 255},
                            "Dimensions": {
                                "type": "array",
                                "items": {
                                    "type": "array",
                                    "maxItems": 30,
                                    "items": {"type": "string", "minLength": 1, "maxLength": 250},
                                },
                            },
                            "Metrics": {
                                "type": "array",
                                "maxItems": 100,
                                "items": {
                                    "type": "object",
                                    "required": ["Name"],
                                    "additionalProperties": False,
                                    "properties": {
                                        "Name": {"type": "string", "minLength": 1, "maxLength": 255},
                                        "Unit": {"enum": UNITS},
                                        "StorageResolution": {"enum": [1, 60]},
                                    },
                                },
                            },
                        },
                    },
                },
            },
        }
    },
}


def check_emf(document: dict[str, Any]) -> None:
    """Raise AssertionError when ``document`` breaks a rule of the specification."""
    jsonschema.validate(document, SCHEMA)
    assert len(json.dumps(document).encode()) <= 1024 * 1024, "an EMF document is one log event: at most 1 MB"
    for directive in document["_aws"]["CloudWatchMetrics"]:
        for dimension_set in directive["Dimensions"]:
            for name in dimension_set:
                assert isinstance(document.get(name), str), f"dimension {name} must be a root member with a string"
                assert 1 <= len(document[name]) <= 1024, f"dimension value {name} must be 1-1024 characters"
        for metric in directive["Metrics"]:
            value = document.get(metric["Name"])
            values = value if isinstance(value, list) else [value]
            assert values and all(isinstance(v, int | float) and not isinstance(v, bool) for v in values), (
                f"metric {metric['Name']} must be a root member holding a number or an array of numbers"
            )
            assert len(values) <= 100, f"metric {metric['Name']} has {len(values)} values; at most 100"


def emf_documents(text: str) -> list[dict[str, Any]]:
    """The EMF documents among JSON log lines (lines without ``_aws`` are ordinary logs)."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{") and '"_aws"' in line:
            out.append(json.loads(line))
    return out


def metric_values(documents: list[dict[str, Any]], name: str, **dims: str) -> list[float]:
    """Every value of metric ``name`` in documents whose dimensions include ``dims``."""
    values: list[float] = []
    for doc in documents:
        names = {m["Name"] for d in doc["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}
        if name in names and all(doc.get(k) == v for k, v in dims.items()):
            value = doc[name]
            values += value if isinstance(value, list) else [value]
    return values
