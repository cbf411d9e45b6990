"""Where the local stack keeps its state: everything under <repo>/.local/."""

from __future__ import annotations

import os
from pathlib import Path


def repo_root() -> Path:
    """The checkout: $CP_ROOT, else the nearest parent of the cwd holding services/ and libs/."""
    explicit = os.environ.get("CP_ROOT")
    if explicit:
        return Path(explicit).resolve()
    here = Path.cwd().resolve()
    for candidate in (here, *here.parents):
        if (candidate / "services").is_dir() and (candidate / "libs" / "shared").is_dir():
            return candidate
    raise SystemExit("cloudctl: run it inside the Cloud Platform checkout, or set CP_ROOT to it")


class LocalPaths:
    def __init__(self, root: Path | None = None) -> None:
        self.root = root or repo_root()
        self.local = self.root / ".local"
        self.logs = self.local / "logs"
        self.run = self.local / "run"
        self.secrets = self.local / "secrets"

    def ensure(self) -> None:
        for folder in (self.local, self.logs, self.run):
            folder.mkdir(parents=True, exist_ok=True)
        self.secrets.mkdir(parents=True, exist_ok=True, mode=0o700)

    def log_file(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def pid_file(self, name: str) -> Path:
        return self.run / f"{name}.pid"
