"""Worker threads of a cycle continuation's kernels (``Collocation.threads``): one pool per
thread count, and the split of a range among the threads.  Only compiled kernels that release
the GIL are run on them, each part going through the same operations as on one thread."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

#: Thread pools, one per thread count (created when first used with ``Collocation.threads``
#: > 1; their threads idle between calls).  A forked child starts without them: the parent's
#: worker threads do not exist there, and a pool inherited from it would never run a task.
_POOLS: dict[int, ThreadPoolExecutor] = {}
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_POOLS.clear)


def pool(threads: int) -> ThreadPoolExecutor:
    """The pool of ``threads`` worker threads (created once)."""
    got = _POOLS.get(threads)
    if got is None:
        got = _POOLS[threads] = ThreadPoolExecutor(threads, thread_name_prefix="bifsnn-cycles")
    return got


def parts(size: int, threads: int, align: int = 1) -> list[tuple[int, int]]:
    """``threads`` contiguous ranges covering 0..size, boundaries on multiples of ``align``
    (empty ranges dropped)."""
    cuts = [min(size, -(-size * i // (threads * align)) * align) for i in range(threads + 1)]
    cuts[-1] = size
    return [(a, b) for a, b in zip(cuts[:-1], cuts[1:], strict=True) if b > a]
