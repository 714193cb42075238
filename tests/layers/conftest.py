"""Make the build scripts under layers/ importable (they are scripts, not a package)."""

from __future__ import annotations

import sys
from pathlib import Path

LAYERS_DIR = Path(__file__).resolve().parents[2] / "layers"
if str(LAYERS_DIR) not in sys.path:
    sys.path.insert(0, str(LAYERS_DIR))
