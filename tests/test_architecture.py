"""Architecture rules, enforced by walking every module's imports (``ast``, no import-linter needed).

- Layers: adapters (``aws_lambda``, ``azure_functions``, ``gcp_functions``, ``function_app``) -> handlers
  (``core.handlers``) -> events / storage / secrets. Nothing in ``core`` imports an adapter; events,
  storage and secrets never import the handlers (or the composition modules above them).
- ``core.events`` imports nothing else from ``core`` but ``core.etag`` (the one ETag normaliser).
- ``core.storage`` and ``core.secrets`` do not import each other; both may use ``core.errors``,
  ``core.etag`` and ``core.credentials`` (the seam through which stores are given secret values).
- No cloud SDK (``boto3``, ``botocore``, ``azure.*``, ``google.*``) is imported at module level outside
  the storage providers, the secrets providers, the rotators and the adapters: ``import core`` and every
  non-provider module load without one. Imports under ``if TYPE_CHECKING:`` do not run and are allowed.
- The command line (``circle_cli``) uses core, never an adapter, except ``circle_cli.invoke``, whose job
  is to call the adapters' entry points locally as their platforms would; core never imports the CLI.

Every import counts for the dependency rules, lazy ones inside functions included (a lazy import is
still a dependency), and so do imports by name: ``importlib.import_module("core.secrets")``,
``import_module(NAME)`` with a module-level ``NAME = "core.secrets"``, and ``__import__("...")`` (a
string import hides a dependency; it does not remove it). Only the SDK rule is about module level.
The last tests run the checker on small trees with one deliberate violation each, to show that every rule can fail.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
ADAPTERS = ("aws_lambda", "azure_functions", "gcp_functions", "function_app")
CLI = "circle_cli"
CLI_MAY_RUN_ADAPTERS = ("circle_cli.invoke",)  # ``circle invoke`` calls the adapters' entry points
STRING_IMPORTERS = ("import_module", "__import__")
#: above events/storage/secrets: may use them, never the other way round
UPPER = ("core.handlers", "core.runtime")
LOWER = ("core.events", "core.storage", "core.secrets", "core.errors", "core.etag", "core.credentials")
SDKS = ("boto3", "botocore", "azure", "google")
SDK_ALLOWED = ("core.storage.providers", "core.secrets.providers", "core.secrets.rotation.rotators", *ADAPTERS)
SHARED = ("core.errors", "core.etag", "core.credentials")
#: what ``core.events`` may import from the rest of core (pure, import-free modules)
EVENTS_MAY_USE = ("core.events", "core.etag")


@dataclass(frozen=True)
class Import:
    module: str  # the importing module (dotted)
    target: str  # the imported module (dotted, absolute)
    line: int
    module_level: bool  # runs on import (not inside a function, not under TYPE_CHECKING)


def _within(name: str, prefixes: tuple[str, ...] | str) -> bool:
    prefixes = (prefixes,) if isinstance(prefixes, str) else prefixes
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _constants(tree: ast.Module) -> dict[str, str]:
    """Module-level ``NAME = "text"`` bindings (a string import may name its module through one)."""
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign) and isinstance(node.value, ast.Constant):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name) and isinstance(node.value.value, str):
                    found[target.id] = node.value.value
    return found


def _string_import(call: ast.Call, constants: dict[str, str]) -> str | None:
    """The module an ``importlib.import_module``/``__import__`` call names by a string, if it can be known."""
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
    if name not in STRING_IMPORTERS or not call.args:
        return None
    arg = call.args[0]
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return arg.value
    if isinstance(arg, ast.Name):
        return constants.get(arg.id)
    return None  # built at run time (an f-string, a registry entry): not knowable here


def _imports(root: Path, path: Path) -> Iterator[Import]:
    module = _module_name(root, path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    constants = _constants(tree)

    def walk(node: ast.AST, module_level: bool) -> Iterator[Import]:
        for child in ast.iter_child_nodes(node):
            named = _string_import(child, constants) if isinstance(child, ast.Call) else None
            if named is not None and not named.startswith("."):  # a relative name needs its package: skipped
                yield Import(module, named, child.lineno, module_level)
            if isinstance(child, ast.Import):
                for alias in child.names:
                    yield Import(module, alias.name, child.lineno, module_level)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")
                    base = base[: len(base) - (child.level - 1)] if child.level > 1 else base
                    target = ".".join(base + ([child.module] if child.module else []))
                else:
                    target = child.module or ""
                yield Import(module, target, child.lineno, module_level)
                for alias in child.names:  # ``from core import storage`` imports a submodule
                    yield Import(module, f"{target}.{alias.name}", child.lineno, module_level)
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                yield from walk(child, False)
            elif isinstance(child, ast.If) and _is_type_checking(child.test):
                yield from walk(ast.Module(body=child.body, type_ignores=[]), False)
                yield from walk(ast.Module(body=child.orelse, type_ignores=[]), module_level)
            else:
                yield from walk(child, module_level)

    yield from walk(tree, True)


def collect(root: Path) -> list[Import]:
    files = [p for p in (root / "core").rglob("*.py")]
    files += list((root / CLI).rglob("*.py")) if (root / CLI).is_dir() else []
    for adapter in ADAPTERS:
        files += list((root / adapter).rglob("*.py")) if (root / adapter).is_dir() else []
        files += [root / f"{adapter}.py"] if (root / f"{adapter}.py").is_file() else []
    return [imp for path in sorted(files) for imp in _imports(root, path)]


def violations(root: Path) -> list[str]:
    """Every broken rule, as ``module:line imports target (rule)``."""
    found = []
    for imp in collect(root):
        src, dst = imp.module, imp.target
        rule = None
        if _within(src, "core") and _within(dst, ADAPTERS):
            rule = "core never imports an adapter"
        elif _within(src, "core") and _within(dst, CLI):
            rule = "core never imports the command line"
        elif _within(src, CLI) and _within(dst, ADAPTERS) and not _within(src, CLI_MAY_RUN_ADAPTERS):
            rule = "the command line imports core, never an adapter"
        elif _within(src, LOWER) and _within(dst, UPPER):
            rule = "events/storage/secrets never import the handlers or the runtime above them"
        elif _within(src, "core.events") and _within(dst, "core") and not _within(dst, EVENTS_MAY_USE):
            rule = "core.events imports nothing else from core"
        elif _within(src, "core.storage") and _within(dst, "core.secrets"):
            rule = "core.storage does not import core.secrets"
        elif _within(src, "core.secrets") and _within(dst, "core.storage"):
            rule = "core.secrets does not import core.storage"
        elif _within(src, SHARED) and _within(dst, "core") and not _within(dst, SHARED):
            rule = "core.errors, core.etag and core.credentials import nothing else from core"
        elif imp.module_level and _within(dst, SDKS) and not _within(src, SDK_ALLOWED):
            rule = "no cloud SDK at module level outside providers, rotators and adapters"
        if rule:
            found.append(f"{src}:{imp.line} imports {dst} ({rule})")
    return sorted(set(found) | set(cycles(root)))


def _unit(name: str) -> str | None:
    """The architectural unit of a module: ``core.<part>``, or the adapter package."""
    parts = name.split(".")
    if parts[0] == "core" and len(parts) > 1:
        return ".".join(parts[:2])
    return parts[0] if parts[0] in ADAPTERS else None


def cycles(root: Path) -> list[str]:
    """Import cycles between units (``core.storage``, ``core.secrets``, ``core.config``...), transitive
    ones included: a cycle through a third unit joins two units as surely as a direct one."""
    graph: dict[str, set[str]] = {}
    for imp in collect(root):
        src, dst = _unit(imp.module), _unit(imp.target)
        if src and dst and src != dst:
            graph.setdefault(src, set()).add(dst)
    found = []

    def reach(start: str) -> set[str]:
        seen: set[str] = set()
        todo = [start]
        while todo:
            for nxt in graph.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    for unit in sorted(graph):
        if unit in reach(unit):
            found.append(f"{unit} is part of an import cycle ({unit} -> ... -> {unit})")
    return found


# -- the project itself --------------------------------------------------------------------------------


def test_the_project_keeps_its_architecture_rules() -> None:
    imports = collect(REPO)
    assert len({i.module for i in imports}) > 50, "the walk found too few modules to be checking the tree"
    assert violations(REPO) == []


# -- every rule can fail: one deliberate violation per rule, in a temporary tree ----------------------------

VIOLATIONS = {
    "adapter": ("core/storage/leak.py", "from aws_lambda.handlers import handler\n", "core never imports an adapter"),
    "upward": (
        "core/secrets/up.py",
        "def f():\n    from core.handlers import replication\n",
        "never import the handlers",
    ),
    "events": ("core/events/dep.py", "from core.storage import open_store\n", "core.events imports nothing else"),
    "storage->secrets": (
        "core/storage/cycle.py",
        "def resolve():\n    import core.secrets\n",  # lazy, still a dependency
        "core.storage does not import core.secrets",
    ),
    "secrets->storage": (
        "core/secrets/cycle.py",
        "from ..storage.errors import redact\n",
        "core.secrets does not import",
    ),
    "errors": ("core/errors.py", "from core.storage import ObjectStore\n", "import nothing else from core"),
    "etag": ("core/etag.py", "def f():\n    import core.storage\n", "import nothing else from core"),
    "events->storage.etag": (
        "core/events/tag.py",
        "from core.storage.etag import unquote_etag\n",  # only core.etag itself is shared
        "core.events imports nothing else",
    ),
    "sdk": ("core/handlers/eager.py", "import boto3\n", "no cloud SDK at module level"),
    "sdk-submodule": ("core/storage/store2.py", "from google.cloud import storage\n", "no cloud SDK at module level"),
    "cycle": ("core/config.py", "import core.storage\n", "import cycle"),  # with the file below
    "storage->secrets by name": (
        "core/credentials.py",  # the seam's old default: the secrets package loaded by a string
        'import importlib\nDEFAULT_MODULE = "core.secrets"\n\ndef f():\n    importlib.import_module(DEFAULT_MODULE)\n',
        "import nothing else from core",
    ),
    "storage->secrets by literal": (
        "core/storage/hidden.py",
        'from importlib import import_module\n\ndef f():\n    return import_module("core.secrets.providers.env")\n',
        "core.storage does not import core.secrets",
    ),
    "secrets->storage by __import__": (
        "core/secrets/hidden.py",
        'def f():\n    return __import__("core.storage")\n',
        "core.secrets does not import",
    ),
    "cli->adapter": ("circle_cli/objects.py", "from aws_lambda import handlers\n", "never an adapter"),
    "core->cli": ("core/handlers/cli_use.py", "def f():\n    import circle_cli.main\n", "never imports the command"),
    "cli sdk": ("circle_cli/session.py", "import boto3\n", "no cloud SDK at module level"),
}
EXTRA = {"cycle": {"core/storage/__init__.py": "def f():\n    from core import config\n"}}


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in {"core/__init__.py": "", "aws_lambda/__init__.py": "", **files}.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        for parent in path.relative_to(tmp_path).parents:
            init = tmp_path / parent / "__init__.py"
            if parent != Path(".") and not init.exists():
                init.write_text("")
        path.write_text(text)
    return tmp_path


@pytest.mark.parametrize("case", list(VIOLATIONS))
def test_a_deliberate_violation_is_reported(tmp_path: Path, case: str) -> None:
    path, text, rule = VIOLATIONS[case]
    found = violations(_tree(tmp_path, {path: text, **EXTRA.get(case, {})}))
    assert len(found) >= 1 and any(rule in v for v in found), found
    if case not in EXTRA:
        assert all(_module_name(tmp_path, tmp_path / path) in v for v in found)


def test_allowed_imports_are_not_reported(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "core/storage/providers/s3.py": "import boto3\n",  # providers may load their SDK
            "core/storage/errors.py": "from core.errors import CircleError\n",
            "core/secrets/errors.py": "from ..errors import CircleError\n",
            "core/storage/__init__.py": "from core.credentials import current_resolver\n",
            "core/handlers/replication.py": "from core.storage import open_store\nfrom core.events import parse\n",
            "core/secrets/lazy.py": "def f():\n    import boto3\n",  # lazy SDK import: fine
            "core/events/typed.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import boto3\n",
            "core/events/model.py": "from core.etag import unquote_etag\n",  # the one shared normaliser
            "aws_lambda/handlers.py": "import boto3\nfrom core.handlers import replication\n",
            "circle_cli/main.py": "from core.runtime import Circle\nfrom core.storage import open_store\n",
            "circle_cli/invoke.py": "def f():\n    from aws_lambda import handlers\n",  # circle invoke
            "core/storage/lazy.py": (  # a name built at run time is not knowable: not counted
                'import importlib\n\ndef f(n):\n    return importlib.import_module(f"{__name__}.{n}")\n'
            ),
        },
    )
    assert violations(root) == []
