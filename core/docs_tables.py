"""Generate the options and providers tables in the docs from the registry and the options classes.

    python -m core.docs_tables           # rewrite the generated blocks in place
    python -m core.docs_tables --check   # exit 1 if a page differs (tests/test_docs_tables.py does this)

A generated block sits between ``<!-- generated: <what> -->`` and ``<!-- end generated -->``, where
``<what>`` is ``options <scheme>``, ``providers``, ``common options`` (the options every store takes) or
``config <section>`` (a circle.toml table: ``core.config_schema`` joins the parsers' fields and defaults
with their descriptions). Only those blocks are touched.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from core.storage.options import Option
from core.storage.registry import ProviderSpec, lookup, providers

ROOT = Path(__file__).resolve().parents[1]
PAGES = ("docs/storage/s3.md", "docs/storage/azure.md", "docs/storage/gcs.md", "docs/storage/file-and-memory.md",
         "docs/configuration.md")  # fmt: skip
_BLOCK = re.compile(r"(<!-- generated: (?P<what>[^>]+?) -->\n)(?P<body>.*?)(<!-- end generated -->)", re.S)


def options_table(spec: ProviderSpec) -> str:
    """One row per option: name (and aliases), type, default, description."""
    rows = ["| option | type | default | meaning |", "|---|---|---|---|"]
    for name, option in spec.options.specs().items():
        label = f"`{name}`" + "".join(f" (alias `{a}`)" for a in option.aliases)
        rows.append(f"| {label} | {option.type_name}{_range(option)} | {_default(option)} | {option.doc} |")
    return "\n".join(rows) + "\n"


def common_options_table() -> str:
    """The options every provider takes (the rest are in each provider's page)."""
    specs = [spec.options.specs() for spec in providers()]
    common = [name for name in specs[0] if all(name in s for s in specs)]
    rows = ["| option | type | default | meaning |", "|---|---|---|---|"]
    for name in common:
        option = specs[0][name]
        rows.append(f"| `{name}` | {option.type_name}{_range(option)} | {_default(option)} | {option.doc} |")
    return "\n".join(rows) + "\n"


def providers_table() -> str:
    """Every registered provider (and S3-compatible profile) with its extra and conditional writes."""
    rows = [
        "| URL | provider name | install | create-only writes | compare-and-swap writes | docs |",
        "|---|---|---|---|---|---|",
    ]
    for spec in providers():
        variants: list[tuple[str, Any]] = [(spec.cloud, spec.capabilities({}))]
        if spec.profiles is not None:
            variants = [(name, p.capabilities) for name, p in spec.profiles().items()]
        install = f"`{spec.install_hint}`" if spec.extra else "built in"
        docs = f"[{Path(spec.docs).name}]({_relative(spec.docs)})" if spec.docs else ""
        for name, caps in variants:
            profile = f' (`profile = "{name}"`)' if spec.profiles is not None and name != spec.cloud else ""
            rows.append(
                f"| `{spec.scheme}://`{profile} | `{name}` | {install} | {_yn(caps.write_with_if_none_match)} "
                f"| {_yn(caps.write_with_if_match)} | {docs} |"
            )
    return "\n".join(rows) + "\n"


def render(text: str) -> str:
    """``text`` with every generated block replaced by its current content."""

    def block(m: re.Match[str]) -> str:
        what = m.group("what").split()
        if what[0] == "options" and len(what) == 2:
            body = options_table(lookup(what[1]))
        elif what == ["providers"]:
            body = providers_table()
        elif what == ["common", "options"]:
            body = common_options_table()
        elif what[0] == "config" and len(what) == 2:
            from core import config_schema

            body = config_schema.table(what[1])
        else:
            raise ValueError(f"unknown generated block {m.group('what')!r}")
        return m.group(1) + body + m.group(4)

    return _BLOCK.sub(block, text)


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for page in PAGES:
        path = ROOT / page
        text = path.read_text(encoding="utf-8")
        fresh = render(text)
        if fresh != text:
            stale.append(page)
            if not check:
                path.write_text(fresh, encoding="utf-8")
    if check and stale:
        print(f"generated tables out of date in {', '.join(stale)}: run python -m core.docs_tables")
        return 1
    return 0


def _default(option: Option[Any]) -> str:
    if option.default_doc:
        return option.default_doc
    value = option.default
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, int) and value >= 1024 * 1024 and value % (1024 * 1024) == 0:
        return f"{value // (1024 * 1024)} MiB"
    return f"`{value}`"


def _range(option: Option[Any]) -> str:
    if option.kind not in ("int", "float") or (option.low is None and option.high is None):
        return ""
    if option.kind == "float" and option.high is None:
        return f", > {option.low:g}"
    low = "" if option.low is None else _amount(option.low)
    high = "" if option.high is None else _amount(option.high)
    return f", {low} .. {high}" if high else f", >= {low}"


def _amount(value: float) -> str:
    n = int(value)
    for unit, size in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= size and n % size == 0:
            return f"{n // size} {unit}"
    return str(n)


def _yn(flag: bool) -> str:
    return "yes" if flag else "**no** (best-effort target)"


def _relative(docs: str) -> str:
    """Links from docs/configuration.md (the only page with a providers table)."""
    return docs.removeprefix("docs/")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
