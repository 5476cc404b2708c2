"""Deprecated alias of :mod:`bifsnn.network.plots` (moved in 0.2; this alias goes in 0.3)."""

import warnings as _warnings

from bifsnn.network.plots import *  # noqa: F401,F403
from bifsnn.network.plots import __all__  # noqa: F401

_warnings.warn("bifsnn.plots moved to bifsnn.network.plots", DeprecationWarning,
               stacklevel=2)
