"""Errors that mean "the input is wrong", as opposed to a bug.

The `trm` command turns exactly these (and their subclasses) into a one-line message and exit
status 2; any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """An error caused by the user's input or environment: printed without a traceback, exit 2."""
