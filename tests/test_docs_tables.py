"""The options and providers tables in the docs are generated from the options classes and the
registry; this test fails when they drift (fix: ``python -m core.storage.docs``)."""

from __future__ import annotations

import pytest

from core.storage import docs


@pytest.mark.parametrize("page", docs.PAGES)
def test_generated_tables_are_current(page: str) -> None:
    text = (docs.ROOT / page).read_text(encoding="utf-8")
    assert "<!-- generated: " in text, f"{page} has no generated block"
    assert docs.render(text) == text, f"{page} is out of date: run python -m core.storage.docs"


def test_a_changed_option_makes_the_check_fail() -> None:
    page = (docs.ROOT / "docs/storage/s3.md").read_text(encoding="utf-8")
    drifted = page.replace("Size of the HTTP connection pool.", "Pool size.")
    assert drifted != page and docs.render(drifted) == page
    with pytest.raises(ValueError, match="unknown generated block"):
        docs.render("<!-- generated: nonsense -->\n<!-- end generated -->")


def test_check_mode_exits_zero_when_current() -> None:
    assert docs.main(["--check"]) == 0
