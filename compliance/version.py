"""The library's version: a leaf every module may import (the package's ``__init__`` imports everything)."""
from __future__ import annotations

__version__ = "0.2.0"
