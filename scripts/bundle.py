"""Build one deployable directory per cloud: ``python -m scripts.bundle aws azure gcp``.

Each ``dist/<cloud>`` holds the shared ``core/`` package, that cloud's adapter package, the files its
platform looks for at the root (Azure: ``function_app.py`` and ``host.json``; GCP: ``main.py``), the
configuration as ``circle.toml``, and a ``requirements.txt`` listing only that cloud's dependencies
(plus the storage SDKs of the stores the configuration names), read from pyproject.toml's extras so there
is a single source of truth. The AWS bundle is what ``template.yaml`` points at (``CodeUri: dist/aws/``):
``sam build`` installs its requirements.

Sources are shipped with their bytecode (``__pycache__/*.cpython-313.pyc``, unchecked-hash so it is
reproducible and never compared with file times) when the building Python is the platforms' 3.13:
Lambda's ``/var/task`` is read-only, so without it every cold start compiles ~40 core modules again
(docs/benchmarks.md: first answer 123 -> 77 ms on AWS). Another building Python ships sources only.

A bundle never ships without a configuration: ``--config PATH`` (``make bundle CONFIG=PATH``) names it,
else ``circle.toml`` at the repository root; it is validated with ``core.config.load_config`` for the base
file and for every ``[env.<name>]`` overlay it declares, so a typo stops the build, not the first event.
"""

from __future__ import annotations

import argparse
import compileall
import py_compile
import shutil
import sys
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.storage.registry import ProviderSpec

ROOT = Path(__file__).resolve().parent.parent
CONFIG_NAME = "circle.toml"
PACKAGE = "circle-core"  # ProviderSpec.package of the built-in providers: their extras are ours
#: the Python every platform runs (template.yaml python3.13, scripts/deploy.py PYTHON_VERSION)
TARGET_PYTHON = (3, 13)

GCP_MAIN = '''\
"""Cloud Functions entry point, written by scripts/bundle.py: functions-framework loads the target named
by ``--entry-point`` from ``main.py`` at the source root."""

from gcp_functions.main import secret_rotation, storage_event
from gcp_functions.main import http  # the HTTP API target (issue 10)
from gcp_functions.main import scheduled  # jobs

__all__ = ["http", "scheduled", "secret_rotation", "storage_event"]
'''

# Never shipped: tests, caches and build leftovers. Tests stay in the repository.
_IGNORE = shutil.ignore_patterns(
    "__pycache__",
    "*.pyc",
    "*.pyo",
    "tests",
    "test_*.py",
    "*_test.py",
    "conftest.py",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    "*.egg-info",
)


class BundleError(Exception):
    """The bundle cannot be built as asked (missing or invalid configuration, extra, package or file)."""


def overlays(config: Path) -> tuple[list[str], bool]:
    """The ``[env.<name>]`` overlays a configuration declares, and whether it sets ``required_env``."""
    try:
        data = tomllib.loads(config.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise BundleError(f"{config}: invalid configuration: not readable TOML: {exc}") from None
    env = data.get("env", {})
    names = sorted(env) if isinstance(env, dict) else []
    return names, data.get("required_env") is True


def check_config(config: Path) -> list[str]:
    """Validate ``config`` the way a function loads it at cold start, once for the base file (unless it
    sets ``required_env = true``) and once per overlay; return the environments checked ("" = base)."""
    if not config.is_file():
        raise BundleError(f"{config}: no such configuration file (pass CONFIG=path/to/circle.toml)")
    from core.config import load_config  # the code being shipped is the code that validates

    names, required = overlays(config)
    envs = ([] if required else [""]) + names
    for env in envs:
        try:
            load_config(config, env=env)
        except Exception as exc:  # a one-line reason, never a traceback: ConfigError names the field
            where = f" (env {env!r})" if env else ""
            reason = " ".join(str(exc).split()) or type(exc).__name__
            raise BundleError(f"{config}{where}: invalid configuration: {reason}") from None
    return envs


@dataclass(frozen=True)
class BundleSpec:
    """What one cloud's bundle contains besides ``core/``."""

    cloud: str
    adapter: str
    root_files: tuple[str, ...] = ()
    generated: dict[str, str] = field(default_factory=dict)


SPECS: dict[str, BundleSpec] = {
    "aws": BundleSpec("aws", "aws_lambda"),
    "azure": BundleSpec("azure", "azure_functions", root_files=("function_app.py", "host.json")),
    "gcp": BundleSpec("gcp", "gcp_functions", generated={"main.py": GCP_MAIN}),
}
CLOUDS = tuple(SPECS)


def _store_specs(config: Path) -> list[ProviderSpec]:
    """The provider spec of every store scheme a configuration names (in any ``[env.*]`` overlay too),
    from the registry (``core.storage.registry``): its ``extra`` and ``package`` say what to install."""
    from core.storage.errors import InvalidArgument
    from core.storage.registry import lookup

    schemes = {str(store.get("url", "")).split("://", 1)[0].lower() for store in _store_tables(config)}
    specs = []
    for scheme in sorted(schemes):
        try:
            specs.append(lookup(scheme))
        except InvalidArgument:
            continue  # not a store URL: check_config names it
    return specs


def _store_tables(config: Path) -> list[dict[str, Any]]:
    """Every ``[stores.<name>]`` table of a configuration, in any ``[env.*]`` overlay too."""
    data = tomllib.loads(config.read_text(encoding="utf-8"))
    layers = [data, *[v for v in data.get("env", {}).values() if isinstance(v, dict)]]
    return [store for layer in layers for store in layer.get("stores", {}).values() if isinstance(store, dict)]


def storage_extras(config: Path) -> list[str]:
    """The circle-core extras (the registry's ``ProviderSpec.extra``) for every store a configuration
    names, so a bundle can write to the other clouds its replication rules target; ``obstore`` when a
    store asks for that engine."""
    extras = {spec.extra for spec in _store_specs(config) if spec.extra and spec.package == PACKAGE}
    if any(store.get("engine") == "obstore" for store in _store_tables(config)):
        extras.add("obstore")
    return sorted(extras)


def provider_requirements(config: Path) -> list[str]:
    """Requirements for stores whose provider another package registers (``ProviderSpec.package``):
    ``package[extra]``, or the package alone."""
    found = {
        f"{spec.package}[{spec.extra}]" if spec.extra else spec.package
        for spec in _store_specs(config)
        if spec.package != PACKAGE
    }
    return sorted(found)


def requirements(cloud: str, *, extras: Sequence[str] = (), pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    """The project's base dependencies plus the ``cloud`` extra (and any named ``extras``), in order."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
    optional: dict[str, list[str]] = project.get("optional-dependencies", {})
    reqs: list[str] = list(project.get("dependencies", []))
    for name in (cloud, *extras):
        if name not in optional:
            raise BundleError(f"{pyproject.name}: [project.optional-dependencies] has no {name!r} extra")
        reqs.extend(optional[name])
    return list(dict.fromkeys(reqs))


def _copy_package(name: str, dest: Path, root: Path) -> None:
    src = root / name
    if not (src / "__init__.py").is_file():
        raise BundleError(f"{name}/__init__.py not found under {root}: the bundle needs the {name} package")
    shutil.copytree(src, dest / name, ignore=_IGNORE)


def build(
    cloud: str,
    out: Path,
    *,
    config: Path,
    extras: Sequence[str] = (),
    root: Path = ROOT,
    checked: bool = False,
) -> Path:
    """Write ``out/<cloud>`` from scratch and return it. Built beside the target and swapped in at the
    end, so a failed build never leaves a half-written bundle behind. ``checked`` skips validating
    ``config`` again when the caller just did."""
    if cloud not in SPECS:
        raise BundleError(f"unknown cloud {cloud!r}: choose from {', '.join(CLOUDS)}")
    spec = SPECS[cloud]
    if not checked:
        check_config(config)
    wanted = list(dict.fromkeys([*extras, *storage_extras(config)]))
    reqs = requirements(cloud, extras=wanted, pyproject=root / "pyproject.toml")
    reqs += [r for r in provider_requirements(config) if r not in reqs]
    target = out / cloud
    staging = out / f".{cloud}.building"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        _copy_package("core", staging, root)
        _copy_package(spec.adapter, staging, root)
        for name in spec.root_files:
            if not (root / name).is_file():
                raise BundleError(f"{name} not found under {root}: the {cloud} bundle needs it at its root")
            shutil.copy2(root / name, staging / name)
        for name, text in spec.generated.items():
            (staging / name).write_text(text, encoding="utf-8")
        shutil.copy2(config, staging / CONFIG_NAME)
        header = f"# {cloud} bundle: generated by scripts/bundle.py from pyproject.toml; do not edit.\n"
        (staging / "requirements.txt").write_text(header + "".join(f"{r}\n" for r in reqs), encoding="utf-8")
        compile_bytecode(staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target


def compile_bytecode(bundle: Path) -> bool:
    """Write unchecked-hash bytecode beside every shipped source when this Python is the platforms' own
    (a mismatched version's bytecode would be ignored there, only adding weight); True when written."""
    if sys.version_info[:2] != TARGET_PYTHON:
        return False
    mode = py_compile.PycInvalidationMode.UNCHECKED_HASH
    if not compileall.compile_dir(bundle, quiet=2, invalidation_mode=mode, workers=1):
        raise BundleError(f"{bundle}: a shipped source does not compile")
    return True


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m scripts.bundle", description=__doc__.splitlines()[0])
    p.add_argument("clouds", nargs="*", metavar="CLOUD", help=f"{', '.join(CLOUDS)} (default: all)")
    p.add_argument("--out", type=Path, default=ROOT / "dist", help="output directory (default: dist)")
    p.add_argument(
        "--config",
        type=Path,
        help=f"configuration to ship as {CONFIG_NAME} (default: {CONFIG_NAME} at the repository root); "
        "see examples/circle.toml",
    )
    p.add_argument(
        "--extra",
        action="append",
        default=[],
        metavar="NAME",
        help="also install this pyproject extra (e.g. a target cloud's SDK); repeatable",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    config: Path | None = args.config
    unknown = [c for c in args.clouds if c not in SPECS]
    if unknown:
        print(f"bundle: unknown cloud {', '.join(unknown)}: choose from {', '.join(CLOUDS)}", file=sys.stderr)
        return 2
    if config is None and (ROOT / CONFIG_NAME).is_file():
        config = ROOT / CONFIG_NAME
    if config is None:
        print(
            "bundle: no configuration: pass CONFIG=path/to/circle.toml to make (--config here); "
            "examples/circle.toml is a starting point",
            file=sys.stderr,
        )
        return 2
    try:
        envs = check_config(config)
        for cloud in args.clouds or CLOUDS:
            path = build(cloud, args.out, config=config, extras=args.extra, checked=True)
            files = sum(1 for p in path.rglob("*") if p.is_file())
            checked = ", ".join(e or "base" for e in envs)
            print(f"{cloud}: {path} ({files} files, {CONFIG_NAME} from {config}, valid for: {checked})")
    except BundleError as exc:
        print(f"bundle: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
