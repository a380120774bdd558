"""Every process the sandbox starts, by PID, in its own session (process group), so stopping one stops
its children too (Azurite's node, the functions-framework server's workers). Stopping is SIGTERM to the
group, a few seconds' grace, then SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
from contextlib import suppress
from pathlib import Path
from typing import IO


class Processes:
    def __init__(self) -> None:
        self.started: list[tuple[str, subprocess.Popen[bytes]]] = []

    def spawn(
        self,
        name: str,
        args: list[str],
        *,
        log: Path,
        env: dict[str, str],
        cwd: Path,
        pass_fds: tuple[int, ...] = (),
        stdout: int | IO[bytes] | None = None,
    ) -> subprocess.Popen[bytes]:
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                args,
                stdout=stdout if stdout is not None else out,
                stderr=out,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=cwd,
                env=env,
                pass_fds=pass_fds,
            )
        self.started.append((name, proc))
        return proc

    def pids(self) -> dict[str, int]:
        return {name: proc.pid for name, proc in self.started}

    def exited(self) -> list[tuple[str, int]]:
        return [(name, proc.returncode) for name, proc in self.started if proc.poll() is not None]

    def stop(self, grace: float = 5.0) -> None:
        for _, proc in self.started:
            if proc.poll() is None:
                with suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for _, proc in self.started:
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                with suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            with suppress(ProcessLookupError):  # a child that outlived its leader in the same group
                os.killpg(proc.pid, signal.SIGKILL)
        self.started.clear()
