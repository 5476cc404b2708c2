"""Deprecated alias of :mod:`bifsnn.network.results` (moved in 0.2; this alias goes in 0.3)."""

import warnings as _warnings

from bifsnn.network.results import *  # noqa: F401,F403
from bifsnn.network.results import __all__  # noqa: F401

_warnings.warn("bifsnn.results moved to bifsnn.network.results", DeprecationWarning,
               stacklevel=2)
