"""The object store attachments live in, on the local filesystem (the default): one file per
key under a root directory, written to a temporary name and renamed, so a reader never sees
half a file. Another store (S3-compatible) implements the same port."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

KEY = re.compile(r"^[a-z0-9]+(/[a-z0-9]+)*$")


class LocalObjectStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        if not KEY.match(key):
            raise ValueError(f"object key {key!r} is not a store key")
        return self.root / key

    def put(self, key: str, content: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(content)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def get(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)
