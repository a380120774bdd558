"""Find the code blocks of the docs and the regions of docs/examples/*.py they are taken from.

A ```python block in README.md or docs/**/*.md is either
- included from an example: the line before the fence is ``<!-- example: docs/examples/<file>.py#<region> -->``
  and the block is exactly that region (``# --8<-- [start:<region>]`` ... ``# --8<-- [end:<region>]``,
  dedented), the file itself being run by tests/docs/test_examples.py; or
- executed as it stands: the line before the fence is ``<!-- executed by tests/docs -->``.

``python -m tests.docs.code_blocks`` rewrites every included block from its region (after an example
changed); the test fails while a block and its region differ."""

from __future__ import annotations

import re
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "docs" / "examples"
INCLUDE = re.compile(r"<!-- example: (docs/examples/[\w.-]+\.py)#([\w-]+) -->")
EXECUTE = "<!-- executed by tests/docs -->"
FENCE = re.compile(r"^```python\n(.*?)^```\n", re.S | re.M)
REGION = re.compile(r"^[ \t]*# --8<-- \[start:([\w-]+)\]\n(.*?)^[ \t]*# --8<-- \[end:\1\]\n", re.S | re.M)


@dataclass(frozen=True)
class Block:
    page: str
    line: int
    marker: str  # the line before the fence
    code: str

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


def pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def blocks(page: Path) -> list[Block]:
    text = page.read_text(encoding="utf-8")
    found = []
    for m in FENCE.finditer(text):
        before = text[: m.start()].rstrip("\n").rsplit("\n", 1)[-1]
        line = text.count("\n", 0, m.start()) + 1
        name = str(page.relative_to(ROOT)) if page.is_relative_to(ROOT) else str(page)
        found.append(Block(name, line, before.strip(), m.group(1)))
    return found


def regions() -> dict[str, str]:
    """``docs/examples/<file>.py#<region>`` -> the region's code, dedented."""
    found = {}
    for path in sorted(EXAMPLES.glob("*.py")):
        for m in REGION.finditer(path.read_text(encoding="utf-8")):
            code = textwrap.dedent(m.group(2)).strip("\n")  # as ruff formats a block: no blank edges
            found[f"{path.relative_to(ROOT)}#{m.group(1)}"] = code + "\n"
    return found


def sync(paths: list[Path] | None = None) -> list[str]:
    """Rewrite included blocks from their regions; the pages changed."""
    known, changed = regions(), []
    for page in pages() if paths is None else paths:
        text = page.read_text(encoding="utf-8")

        def fill(m: re.Match[str], text: str = text) -> str:
            before = text[: m.start()].rstrip("\n").rsplit("\n", 1)[-1]
            include = INCLUDE.fullmatch(before.strip())
            if include is None:
                return m.group(0)
            return f"```python\n{known[f'{include[1]}#{include[2]}']}```\n"

        fresh = FENCE.sub(fill, text)
        if fresh != text:
            page.write_text(fresh, encoding="utf-8")
            changed.append(page.name)
    return changed


if __name__ == "__main__":
    print("\n".join(sync()) or "all included blocks are current", file=sys.stderr)
