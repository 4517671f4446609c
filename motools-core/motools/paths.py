"""Where motools keeps its state: the one definition of the motools home."""

from __future__ import annotations

import os
from pathlib import Path

HOME_VARIABLE = "MOTOOLS_HOME"


def home() -> Path:
    """``$MOTOOLS_HOME`` (``~`` expanded), else ``.motools`` in the working directory; absolute.

    Every part of motools (store, run states, logs, zoo downloads, sweep manifests) resolves
    its folder through this function, so one variable moves all of it.
    """
    env = os.environ.get(HOME_VARIABLE)
    base = Path(env).expanduser() if env else Path.cwd() / ".motools"
    return base.resolve()
