"""Atomic operations on int64 array slots and a polite spin-wait, for numba kernels.

Used by :func:`bifsnn.network._blocked.parallel_steps` to run many steps in one parallel region:
its threads claim blocks and wait for each step's serial tail through these slots instead of
starting and joining a region per step.  ``atomic_add`` and ``atomic_cas`` are sequentially
consistent (on x86 a locked instruction, a full fence), ``atomic_load`` acquires and
``atomic_store`` releases, so plain array writes before a release are seen after the acquire
that reads it.
"""

from __future__ import annotations

import platform
import sys

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

_X86 = platform.machine().lower() in ("x86_64", "amd64", "i386", "i686")
_YIELD = sys.platform != "win32"  # POSIX sched_yield


def _slot(context, builder, aryty, ary_val, idx_val):
    ary = context.make_array(aryty)(context, builder, ary_val)
    return cgutils.get_item_pointer(context, builder, aryty, ary, [idx_val],
                                    wraparound=False, boundscheck=False)


def _slot_and_value(context, builder, sig, args):
    """Pointer to ``ary[idx]`` and the third argument as int64 (add, store)."""
    ptr = _slot(context, builder, sig.args[0], args[0], args[1])
    return ptr, context.cast(builder, args[2], sig.args[2], types.int64)


def _check(ary, *ints):
    if not (isinstance(ary, types.Array) and ary.dtype == types.int64 and ary.ndim == 1):
        raise TypeError("atomics need a 1-D int64 array")
    if not all(isinstance(t, types.Integer) for t in ints):
        raise TypeError("atomics need integer indices and values")


@intrinsic
def atomic_add(typingctx, ary, idx, val):
    """``old = ary[idx]; ary[idx] += val; return old``, atomically (seq_cst)."""
    _check(ary, idx, val)

    def codegen(context, builder, sig, args):
        return builder.atomic_rmw("add", *_slot_and_value(context, builder, sig, args),
                                  "seq_cst")

    return types.int64(ary, idx, val), codegen


@intrinsic
def atomic_cas(typingctx, ary, idx, expected, new):
    """If ``ary[idx] == expected`` set it to ``new`` and return True, atomically (seq_cst)."""
    _check(ary, idx, expected, new)

    def codegen(context, builder, sig, args):
        ptr = _slot(context, builder, sig.args[0], args[0], args[1])
        e = context.cast(builder, args[2], sig.args[2], types.int64)
        n = context.cast(builder, args[3], sig.args[3], types.int64)
        res = builder.cmpxchg(ptr, e, n, "seq_cst", "seq_cst")
        return builder.extract_value(res, 1)

    return types.boolean(ary, idx, expected, new), codegen


@intrinsic
def atomic_load(typingctx, ary, idx):
    """``ary[idx]``, read atomically with acquire ordering."""
    _check(ary, idx)

    def codegen(context, builder, sig, args):
        ptr = _slot(context, builder, sig.args[0], args[0], args[1])
        return builder.load_atomic(ptr, "acquire", 8)

    return types.int64(ary, idx), codegen


@intrinsic
def atomic_store(typingctx, ary, idx, val):
    """``ary[idx] = val``, written atomically with release ordering."""
    _check(ary, idx, val)

    def codegen(context, builder, sig, args):
        ptr, v = _slot_and_value(context, builder, sig, args)
        builder.store_atomic(v, ptr, "release", 8)
        return context.get_dummy_value()

    return types.none(ary, idx, val), codegen


@intrinsic
def spin_pause(typingctx, n_spins):
    """One round of a spin-wait: the CPU's pause hint (x86), and from the 4096th round on
    (``n_spins`` >= 4096, about 0.1-0.5 ms of spinning) ``sched_yield`` (POSIX), so that a
    waiting thread gives its core to the thread it waits for on an oversubscribed machine."""
    if not isinstance(n_spins, types.Integer):
        raise TypeError("spin_pause needs an integer")

    def codegen(context, builder, sig, args):
        mod = builder.module
        if _X86:
            pause = cgutils.get_or_insert_function(mod, ir.FunctionType(ir.VoidType(), []),
                                                   "llvm.x86.sse2.pause")
            builder.call(pause, [])
        if not _YIELD:
            return context.get_dummy_value()
        n = context.cast(builder, args[0], sig.args[0], types.int64)
        long_wait = builder.icmp_signed(">=", n, ir.Constant(ir.IntType(64), 4096))
        with builder.if_then(long_wait, likely=False):
            yld = cgutils.get_or_insert_function(mod, ir.FunctionType(ir.IntType(32), []),
                                                 "sched_yield")
            builder.call(yld, [])
        return context.get_dummy_value()

    return types.none(n_spins), codegen
