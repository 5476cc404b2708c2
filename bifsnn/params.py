"""Deprecated alias of :mod:`bifsnn.network.params` (moved in 0.2; this alias goes in 0.3)."""

import warnings as _warnings

from bifsnn.network.params import *  # noqa: F401,F403
from bifsnn.network.params import __all__  # noqa: F401

_warnings.warn("bifsnn.params moved to bifsnn.network.params", DeprecationWarning,
               stacklevel=2)
