"""Deprecated alias of :mod:`bifsnn.network.snn` (moved in 0.2; this alias goes in 0.3)."""

import warnings as _warnings

from bifsnn.network.snn import *  # noqa: F401,F403
from bifsnn.network.snn import __all__  # noqa: F401

_warnings.warn("bifsnn.snn moved to bifsnn.network.snn", DeprecationWarning,
               stacklevel=2)
