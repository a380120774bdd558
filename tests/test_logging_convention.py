"""The logging convention (issue 8): every logger the project names lives under ``circle.``, no log call
renders JSON by hand, and a log call's message is a constant: structured fields go through ``extra=``,
never through ``%`` arguments (``log.info("copied %s", key)``), an f-string or ``%``/``.format``
applied to the message. A constant message is one record name that log queries can group by, and
values in ``extra`` stay fields. Checked on the source with ``ast`` (core, the adapters, the CLI)."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("core", "aws_lambda", "azure_functions", "gcp_functions", "circle_cli")
LOG_METHODS = {"debug", "info", "warning", "error", "exception", "critical", "log"}
#: receivers a log call is made on (``log.info``, ``logger.warning``, ``self.log.error``, ``logging.info``)
LOGGERS = {"log", "logger", "_log", "logging", "LOG"}


def _is_log_call(node: ast.Call) -> bool:
    func = node.func
    if not isinstance(func, ast.Attribute) or func.attr not in LOG_METHODS:
        return False
    receiver = func.value
    name = (
        receiver.attr if isinstance(receiver, ast.Attribute) else receiver.id if isinstance(receiver, ast.Name) else ""
    )
    return name in LOGGERS


def _message_breach(node: ast.Call) -> str | None:
    """Why a log call's message is not a constant, or None."""
    args = node.args[1:] if node.func.attr == "log" else node.args  # type: ignore[attr-defined]
    if not args:
        return None
    message, rest = args[0], args[1:]
    if rest and any(k.arg == "extra" for k in node.keywords):
        return "%-style arguments beside extra= in a log call (use a constant message and extra=)"
    if isinstance(message, ast.JoinedStr):
        return "f-string message in a log call (use a constant message and extra=)"
    if isinstance(message, ast.BinOp) and isinstance(message.op, ast.Mod):
        return "%-formatted message in a log call (use a constant message and extra=)"
    if isinstance(message, ast.Call) and isinstance(message.func, ast.Attribute) and message.func.attr == "format":
        return ".format() message in a log call (use a constant message and extra=)"
    return None


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
                if _is_log_call(node) and (why := _message_breach(node)) is not None:
                    found.append(f"{where}:{node.lineno}: {why}")
                if name in LOG_METHODS:
                    for inner in ast.walk(node):
                        if (
                            isinstance(inner, ast.Call)
                            and isinstance(inner.func, ast.Attribute)
                            and inner.func.attr == "dumps"
                        ):
                            found.append(f"{where}:{node.lineno}: JSON rendered inside a log call")
    return found


#: Log calls still mixing %-arguments with extra=, per file. A ratchet: a count may only go down (a file at 0
#: leaves the table), and no other file may add one. Every file is converted now.
NOT_YET_CONVERTED: dict[str, int] = {}


def test_loggers_live_under_circle_and_log_calls_carry_no_hand_made_json() -> None:
    found = convention_breaches(REPO)
    counts: dict[str, int] = {}
    for line in found:
        if "%-style arguments beside extra=" in line:
            counts[line.split(":")[0]] = counts.get(line.split(":")[0], 0) + 1
    others = [line for line in found if "%-style arguments beside extra=" not in line]
    assert others == []
    over = {f: n for f, n in counts.items() if n > NOT_YET_CONVERTED.get(f, 0)}
    assert over == {}, [line for line in found if line.split(":")[0] in over]


def test_the_check_reports_a_breach(tmp_path: Path) -> None:
    bad = tmp_path / "core"
    bad.mkdir()
    (bad / "mod.py").write_text(
        "import json, logging\nlog = logging.getLogger('core.thing')\nlog.info(json.dumps({'a': 1}))\n"
        "log.warning('copied %s', 'k', extra={'key': 'k'})\n"
        "log.error(f'copied {1}')\n"
        "log.info('copied %s' % 'k')\n"
        "log.log(20, 'copied {}'.format('k'))\n"
        "log.info('copied', extra={'key': 'k'})\n"  # the convention: no breach
        "log.log(20, 'copied')\n",  # no breach either
        encoding="utf-8",
    )
    for package in PACKAGES[1:]:
        (tmp_path / package).mkdir()
    cli = "import logging\nlogging.info('ran %s', 'x', extra={'x': 'x'})\n"
    (tmp_path / "circle_cli" / "cmd.py").write_text(cli, encoding="utf-8")
    assert convention_breaches(tmp_path) == [
        "core/mod.py:2: logger 'core.thing' is not under 'circle.'",
        "core/mod.py:3: JSON rendered inside a log call",
        "core/mod.py:4: %-style arguments beside extra= in a log call (use a constant message and extra=)",
        "core/mod.py:5: f-string message in a log call (use a constant message and extra=)",
        "core/mod.py:6: %-formatted message in a log call (use a constant message and extra=)",
        "core/mod.py:7: .format() message in a log call (use a constant message and extra=)",
        "circle_cli/cmd.py:2: %-style arguments beside extra= in a log call (use a constant message and extra=)",
    ]
