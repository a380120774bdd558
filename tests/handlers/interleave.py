"""Deterministic interleaving for replication tests: no sleeps.

- ``HookedStore`` wraps a real store (same backend, same semantics) and calls a hook before and after
  each operation, so a test can run another handler at an exact point (between two HEADs, while a
  copy streams).
- ``Scheduler`` runs several tasks in threads but lets only one run at a time; every store operation
  of a ``HookedStore`` built with ``scheduler.pause`` is a switch point where a seeded random choice
  picks the task that goes next. A seed therefore names one exact interleaving.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterable
from typing import Any

from core.storage import ObjectStore

Hook = Callable[[str, str, str, BaseException | None], None]  # (operation, key, "before"|"after", error)


class HookedStore:
    """``inner`` with ``hook`` called around head/get/put/delete/list_page (duck-types ObjectStore)."""

    def __init__(self, inner: ObjectStore, hook: Hook) -> None:
        self.inner = inner
        self.hook = hook

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def _around(self, op: str, key: str, fn: Callable[[], Any]) -> Any:
        self.hook(op, key, "before", None)
        try:
            result = fn()
        except BaseException as exc:
            self.hook(op, key, "after", exc)
            raise
        self.hook(op, key, "after", None)
        return result

    def head(self, key: str) -> Any:
        return self._around("head", key, lambda: self.inner.head(key))

    def exists(self, key: str) -> bool:
        return self._around("head", key, lambda: self.inner.exists(key))  # type: ignore[no-any-return]

    def get(self, key: str, **kw: Any) -> Any:
        return self._around("get", key, lambda: self.inner.get(key, **kw))

    def put(self, key: str, data: Any, **kw: Any) -> Any:
        return self._around("put", key, lambda: self.inner.put(key, data, **kw))

    def delete(self, key: str, **kw: Any) -> None:
        self._around("delete", key, lambda: self.inner.delete(key, **kw))

    def list_page(self, prefix: str = "", **kw: Any) -> Any:
        return self._around("list", prefix, lambda: self.inner.list_page(prefix, **kw))

    def __hash__(self) -> int:
        return id(self)

    def __repr__(self) -> str:
        return f"HookedStore({self.inner!r})"


def once(when: Callable[[str, str, str, BaseException | None], bool], action: Callable[[], None]) -> Hook:
    """A hook that runs ``action`` the first time ``when(op, key, phase, error)`` holds."""
    fired = False

    def hook(op: str, key: str, phase: str, error: BaseException | None) -> None:
        nonlocal fired
        if not fired and when(op, key, phase, error):
            fired = True
            action()

    return hook


class Scheduler:
    """One task at a time; ``pause()`` (a store hook) hands the turn back and a seeded choice picks the
    next task. Calls from threads that are not tasks (a copy's read-ahead thread) pass straight through."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.switches = 0
        self._cv = threading.Condition()
        self._turn: int | None = None
        self._local = threading.local()

    def hook(self, op: str, key: str, phase: str, error: BaseException | None) -> None:
        if phase == "before":
            self.pause()

    def pause(self) -> None:
        me = getattr(self._local, "task", None)
        if me is None:
            return
        with self._cv:
            self._turn = None
            self._cv.notify_all()
            self._cv.wait_for(lambda: self._turn == me)

    def run(self, tasks: Iterable[Callable[[], None]]) -> None:
        fns = list(tasks)
        alive = set(range(len(fns)))
        errors: list[BaseException] = []

        def body(i: int) -> None:
            self._local.task = i
            with self._cv:
                self._cv.wait_for(lambda: self._turn == i)
            try:
                fns[i]()
            except BaseException as exc:
                errors.append(exc)
            finally:
                with self._cv:
                    alive.discard(i)
                    self._turn = None
                    self._cv.notify_all()

        threads = [threading.Thread(target=body, args=(i,), daemon=True) for i in range(len(fns))]
        for t in threads:
            t.start()
        with self._cv:
            while alive:
                self._turn = self.rng.choice(sorted(alive))
                self.switches += 1
                self._cv.notify_all()
                self._cv.wait_for(lambda: self._turn is None)
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
