"""Relative links in the guides resolve: the file exists and, for ``#anchor``, a heading makes it
(GitHub's slug rule: lower-case, punctuation dropped, spaces to hyphens, ``-1`` for repeats)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.docs.code_blocks import ROOT

GUIDES = sorted(
    [
        *(
            ROOT / "docs" / n
            for n in (
                "aws.md",
                "azure.md",
                "gcp.md",
                "local-invocation.md",
                "security.md",
                "costs.md",
                "configuration.md",
                "cli.md",
                "benchmarks.md",
            )
        ),
        ROOT / "docs" / "storage" / "README.md",
        *(ROOT / "docs" / "s3-compatible").glob("*.md"),
    ]
)
LINK = re.compile(r"\]\(([^)\s]+)\)")


def slugs(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    for heading in re.findall(r"^#+ (.+)$", text, re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def test_the_guides_exist() -> None:
    assert len(GUIDES) == 15 and all(p.exists() for p in GUIDES)


@pytest.mark.parametrize("page", GUIDES, ids=[str(p.relative_to(ROOT)) for p in GUIDES])
def test_relative_links_resolve(page: Path) -> None:
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+://", target):
            continue
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        assert resolved.exists(), f"{page.name}: {target} does not exist"
        if anchor:
            assert anchor in slugs(resolved), f"{page.name}: no heading makes #{anchor} in {resolved.name}"
