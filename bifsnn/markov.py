"""Deprecated alias of :mod:`bifsnn.network.markov` (moved in 0.2; this alias goes in 0.3)."""

import warnings as _warnings

from bifsnn.network.markov import *  # noqa: F401,F403
from bifsnn.network.markov import __all__  # noqa: F401

_warnings.warn("bifsnn.markov moved to bifsnn.network.markov", DeprecationWarning,
               stacklevel=2)
