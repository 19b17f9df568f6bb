"""One error type for every user-facing failure.

The CLI catches :class:`SRLibError` and prints its message as a single line (exit code 2),
so a wrong scale, a corrupt image or a wrong-shape checkpoint never ends in a traceback.
"""

from __future__ import annotations


class SRLibError(Exception):
    """A user-facing error whose message is one clear line."""


class DataError(SRLibError):
    """A data set or image is missing, corrupt, or has the wrong hash."""


class WeightsError(SRLibError):
    """A checkpoint is missing, unsafe, corrupt, or does not fit the model."""


class ConfigError(SRLibError):
    """An unknown model, an unsupported scale, or an inconsistent option."""
