"""Find the ```sh blocks of the docs, the commands in them and the output they document.

A ```sh block is run by tests/docs/test_shell_blocks.py when the line before its fence is
``<!-- executed by tests/docs: sh -->`` or ``<!-- executed by tests/docs: sh <scenario> -->`` (the
scenario names the configuration and sample objects the test prepares for it; default ``cli``).

Inside a block, either every line is a command (comments after ``#`` are bash's), or the block is a
transcript: lines starting with ``$ `` are commands and the lines after one, up to the next, are its
documented output, each of which must appear in what the command printed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from tests.docs.code_blocks import ROOT, pages

MARK = re.compile(r"<!-- executed by tests/docs: sh(?: ([\w-]+))? -->")
FENCE = re.compile(r"^```sh\n(.*?)^```\n", re.S | re.M)


@dataclass(frozen=True)
class Command:
    text: str  # as bash runs it (comments included: bash drops them)
    output: tuple[str, ...] = ()  # documented output lines (transcripts only)

    @property
    def bare(self) -> str:
        """The command without its trailing comment, whitespace collapsed."""
        return " ".join(re.sub(r"(^|\s)#.*$", "", self.text).split())


@dataclass(frozen=True)
class ShBlock:
    page: str
    line: int
    marker: str
    code: str
    commands: tuple[Command, ...] = field(default=())

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"

    @property
    def scenario(self) -> str | None:
        """The scenario of a marked block ("cli" unless named); None: the block is not executed."""
        m = MARK.fullmatch(self.marker)
        return None if m is None else (m.group(1) or "cli")

    @property
    def first(self) -> str:
        return self.commands[0].bare if self.commands else ""


def commands(code: str) -> tuple[Command, ...]:
    lines = code.splitlines()
    if any(line.startswith("$ ") for line in lines):
        found: list[Command] = []
        for line in lines:
            if line.startswith("$ "):
                found.append(Command(line[2:]))
            elif found and line.strip():
                found[-1] = Command(found[-1].text, (*found[-1].output, line))
        return tuple(found)
    return tuple(Command(line) for line in lines if line.strip() and not line.lstrip().startswith("#"))


def sh_blocks(page: Path) -> list[ShBlock]:
    text = page.read_text(encoding="utf-8")
    found = []
    for m in FENCE.finditer(text):
        before = text[: m.start()].rstrip("\n").rsplit("\n", 1)[-1].strip()
        line = text.count("\n", 0, m.start()) + 1
        name = str(page.relative_to(ROOT)) if page.is_relative_to(ROOT) else str(page)
        found.append(ShBlock(name, line, before, m.group(1), commands(m.group(1))))
    return found


def all_blocks(names: tuple[str, ...] | None = None) -> list[ShBlock]:
    chosen = [p for p in pages() if names is None or str(p.relative_to(ROOT)) in names]
    return [b for page in chosen for b in sh_blocks(page)]
