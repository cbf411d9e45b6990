"""Shared fixtures: where the checkout and its local stack are."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloudctl.paths import LocalPaths

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def paths() -> LocalPaths:
    return LocalPaths(ROOT)
