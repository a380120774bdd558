"""The S3-compatible pages and the handbook's capability table are generated from the code; these
tests fail when they drift (fix: ``python -m scripts.docs_pages``), and check what the pages claim."""

from __future__ import annotations

import re
import tomllib
from dataclasses import replace

import pytest

from core.config import parse_config
from core.storage.providers import s3_profiles
from scripts import docs_pages


@pytest.mark.parametrize("page", sorted(docs_pages.pages()))
def test_generated_page_is_current(page: str) -> None:
    assert (docs_pages.ROOT / page).read_text(encoding="utf-8") == docs_pages.pages()[page], (
        f"{page} is out of date: run python -m scripts.docs_pages"
    )


def test_check_mode_exits_zero_when_current() -> None:
    assert docs_pages.main(["--check"]) == 0


def test_a_changed_profile_changes_its_page() -> None:
    before = docs_pages.profile_page(s3_profiles.PROFILES["ibm"])
    assert "| If-Match on PutObject (compare-and-swap) | yes | **no** |" in before
    assert "`write_with_if_match`: **no**" in before and "Consistency: **best-effort**" in before
    changed = replace(s3_profiles.PROFILES["ibm"], write_if_match=True, create_only_header=("If-None-Match", "*"))
    after = docs_pages.profile_page(changed)
    assert after != before
    assert "If-Match on PutObject" not in after  # no longer a difference from Amazon S3
    assert "`write_with_if_match`" not in after and "`write_with_if_none_match`" not in after


@pytest.mark.parametrize("name", docs_pages.COMPATIBLE)
def test_each_page_states_the_profiles_capabilities_and_a_loadable_config(name: str) -> None:
    text = (docs_pages.ROOT / f"docs/s3-compatible/{name}.md").read_text(encoding="utf-8")
    profile = s3_profiles.PROFILES[name]
    caps = profile.capabilities()
    assert ("`write_with_if_match`: **no**" in text) is (not caps.write_with_if_match)
    assert ("`write_with_if_none_match`: **no**" in text) is (not caps.write_with_if_none_match)
    expected = "strong" if caps.write_with_if_match and caps.write_with_if_none_match else "best-effort"
    assert f"Consistency: **{expected}**" in text
    [toml] = re.findall(r"```toml\n(.*?)```", text, re.S)
    config = parse_config(tomllib.loads(toml))
    assert config.stores["archive"].options["profile"] == name
