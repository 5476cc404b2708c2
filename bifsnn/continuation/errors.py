"""Exceptions raised in the user's functions, carried through the engine.

Every call of user code (``f``, ``dfdx``, ``dfdp``) goes through :func:`call_user`, which turns
any exception into a :class:`UserFunctionError` naming the function, the exception's type and
its message.  The continuation loops catch it, stop, and return the partial branch with
``status = "error"`` and that text in ``message`` (a ``ValueError`` in the user's code is
reported as itself, never as a numerical failure).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["UserFunctionError", "call_user"]


class UserFunctionError(Exception):
    """An exception raised by user code (``f``, ``dfdx``, ``dfdp``) during a continuation."""

    def __init__(self, where: str, exc: BaseException):
        self.where = where
        self.original = exc
        super().__init__(f"{where} raised {type(exc).__name__}: {exc}")


def call_user(fn: Callable[..., Any], where: str, *args: Any) -> Any:
    """``fn(*args)``; any exception is re-raised as :class:`UserFunctionError`."""
    try:
        return fn(*args)
    except UserFunctionError:
        raise
    except Exception as exc:  # noqa: BLE001 - every failure of user code is reported
        raise UserFunctionError(where, exc) from exc
