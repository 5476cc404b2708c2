"""Deprecated alias of :mod:`bifsnn.network.observables` (moved in 0.2; this alias goes in 0.3)."""

import warnings as _warnings

from bifsnn.network.observables import *  # noqa: F401,F403
from bifsnn.network.observables import __all__  # noqa: F401

_warnings.warn("bifsnn.observables moved to bifsnn.network.observables", DeprecationWarning,
               stacklevel=2)
