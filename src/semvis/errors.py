"""Exceptions that carry one clear, user-facing message.

The CLI prints ``str(error)`` for these and exits non-zero without a traceback.
"""


class SemvisError(Exception):
    """Base class for errors caused by user input or the environment."""


class ImageError(SemvisError, ValueError):
    """An image file is missing, corrupt, truncated, too large or of an unsupported kind."""


class WeightsError(SemvisError):
    """Weights could not be found, verified or converted."""


class DataError(SemvisError):
    """A dataset or video is missing or malformed."""


class DeviceError(SemvisError, ValueError):
    """A device name is unknown, or names hardware (or a precision) this machine does not have."""
