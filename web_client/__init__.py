"""The browser apps (families at /, residents at /tablet, staff at /console): static files."""

from __future__ import annotations

from pathlib import Path

STATIC_DIR = Path(__file__).parent / "static"
NODE_MODULES = Path(__file__).parent / "node_modules"
