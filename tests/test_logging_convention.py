"""The logging convention (issue 8): every logger the project names lives under ``circle.`` and no log
call renders JSON by hand (structured fields go through ``extra=``). Checked on the source with ``ast``."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("core", "aws_lambda", "azure_functions", "gcp_functions")
LOG_METHODS = {"debug", "info", "warning", "error", "exception", "critical", "log"}


def convention_breaches(root: Path) -> list[str]:
    """``file:line: why`` for each logger named outside ``circle.`` and each ``json.dumps`` inside a log call."""
    found = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            where = path.relative_to(root)
            for node in ast.walk(tree):
                if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                    continue
                name = node.func.attr
                literal = node.args[0] if node.args and isinstance(node.args[0], ast.Constant) else None
                logger = literal.value if name == "getLogger" and literal is not None else None
                if isinstance(logger, str) and not (logger == "circle" or logger.startswith("circle.")):
                    found.append(f"{where}:{node.lineno}: logger {logger!r} is not under 'circle.'")
                if name in LOG_METHODS:
                    for inner in ast.walk(node):
                        if (
                            isinstance(inner, ast.Call)
                            and isinstance(inner.func, ast.Attribute)
                            and inner.func.attr == "dumps"
                        ):
                            found.append(f"{where}:{node.lineno}: JSON rendered inside a log call")
    return found


def test_loggers_live_under_circle_and_log_calls_carry_no_hand_made_json() -> None:
    assert convention_breaches(REPO) == []


def test_the_check_reports_a_breach(tmp_path: Path) -> None:
    bad = tmp_path / "core"
    bad.mkdir()
    (bad / "mod.py").write_text(
        "import json, logging\nlog = logging.getLogger('core.thing')\nlog.info(json.dumps({'a': 1}))\n",
        encoding="utf-8",
    )
    for package in PACKAGES[1:]:
        (tmp_path / package).mkdir()
    assert convention_breaches(tmp_path) == [
        "core/mod.py:2: logger 'core.thing' is not under 'circle.'",
        "core/mod.py:3: JSON rendered inside a log call",
    ]
