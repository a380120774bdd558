"""Session fixtures: the local emulators (started once per test worker, stopped at the end) and
one fresh store per rig for the conformance suite."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.storage import ObjectStore
from scripts import emulators as emulator_stack
from tests import rigs

EVENTS_DIR = Path(__file__).resolve().parent / "events" / "data"  # vendor payloads, copied into the repo


class _LazyEmulators:
    """Start the emulators the first time a test asks for them, once per worker process."""

    def __init__(self) -> None:
        self._emu: emulator_stack.Emulators | None = None

    def __call__(self) -> emulator_stack.Emulators:
        if self._emu is None:
            self._emu = emulator_stack.start()
        return self._emu

    def stop(self) -> None:
        if self._emu is not None:
            self._emu.stop()
            self._emu = None


@pytest.fixture(scope="session")
def lazy_emulators() -> Iterator[_LazyEmulators]:
    lazy = _LazyEmulators()
    try:
        yield lazy
    finally:
        lazy.stop()


@pytest.fixture(scope="session")
def emulators(lazy_emulators: _LazyEmulators) -> emulator_stack.Emulators:
    return lazy_emulators()


@pytest.fixture
def emulator_env(emulators: emulator_stack.Emulators, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Point the SDKs' own environment variables at the emulators for one test."""
    env = emulators.env()
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return env


@pytest.fixture
def rig_context(lazy_emulators: _LazyEmulators, tmp_path: Path) -> rigs.RigContext:
    return rigs.RigContext(emulators=lazy_emulators, tmp_path=tmp_path)


def available_rigs() -> list[str]:
    """Rigs whose module exists (a provider lands with its rig)."""
    names = []
    for name in [*rigs.RIG_MODULES, *rigs.ENGINE_RIGS]:
        try:
            rigs.load(name)
        except ModuleNotFoundError:
            continue
        names.append(name)
    only = os.environ.get("CIRCLE_RIGS")
    return [n for n in names if n in only.split(",")] if only else names


@pytest.fixture(params=available_rigs())
def rig(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store(rig: str, rig_context: rigs.RigContext) -> Iterator[ObjectStore]:
    s = rigs.make(rig, rig_context)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def other_store(rig_context: rigs.RigContext) -> Any:
    """Factory for a second store of any rig (cross-store copies)."""
    made: list[ObjectStore] = []

    def factory(name: str, **options: Any) -> ObjectStore:
        s = rigs.make(name, rig_context, **options)
        made.append(s)
        return s

    yield factory
    for s in made:
        s.close()
