"""`reg` commands for this area; they register themselves on the app in cli/main.py."""
from __future__ import annotations

from .main import app  # noqa: F401
