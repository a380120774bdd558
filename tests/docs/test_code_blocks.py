"""Every ```python block of README.md and docs/**/*.md is run by the suite: either it is a region of a
runnable example in docs/examples/ (tests/docs/test_examples.py runs the files) and identical to it, or
it is marked to be executed as it stands, and is executed here."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.docs import code_blocks
from tests.docs.code_blocks import EXECUTE, INCLUDE, Block

ALL = [b for page in code_blocks.pages() for b in code_blocks.blocks(page)]


def test_the_docs_have_python_blocks_and_the_examples_have_regions() -> None:
    assert len(ALL) >= 10
    assert len(code_blocks.regions()) >= 10


@pytest.mark.parametrize("block", ALL, ids=[b.where for b in ALL])
def test_every_python_block_is_an_example_region_or_executed(block: Block) -> None:
    include = INCLUDE.fullmatch(block.marker)
    assert include or block.marker == EXECUTE, (
        f"{block.where}: a python block needs `<!-- example: docs/examples/<file>.py#<region> -->` "
        f"or `{EXECUTE}` on the line before it"
    )
    if include:
        region = code_blocks.regions().get(f"{include[1]}#{include[2]}")
        assert region is not None, f"{block.where}: {include[1]} has no region {include[2]!r}"
        assert block.code == region, f"{block.where} differs from its region: run python -m tests.docs.code_blocks"


EXECUTED = [b for b in ALL if b.marker == EXECUTE]


@pytest.mark.parametrize("block", EXECUTED, ids=[b.where for b in EXECUTED])
def test_executed_blocks_run(block: Block, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": f"docs_block_{block.line}"}
    exec(compile(block.code, block.where, "exec"), namespace)  # the docs' own code
    assert len(namespace) > 2  # it defined something


def test_a_drifted_block_is_caught_and_sync_restores_it(tmp_path: Path) -> None:
    page = tmp_path / "README.md"
    text = (code_blocks.ROOT / "README.md").read_text(encoding="utf-8")
    page.write_text(text.replace('s3.get("a.csv", start=-6)', 's3.get("a.csv", start=-7)'), encoding="utf-8")
    [drifted] = code_blocks.blocks(page)
    assert drifted.code != code_blocks.regions()["docs/examples/storage_api.py#storage-api"]
    assert code_blocks.sync([page]) == ["README.md"]
    assert page.read_text(encoding="utf-8") == text
    assert code_blocks.sync([page]) == []
