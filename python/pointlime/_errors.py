"""pointlime's exceptions. Every error pointlime raises is a PointlimeError, with the CLI's
one-line message; bad arrays and settings are also ValueErrors."""


class PointlimeError(Exception):
    """Every error pointlime raises."""


class ScanError(PointlimeError):
    """A scan that cannot be read or used (missing, malformed, too large, too few points), or an
    output that cannot be written."""


class ModelError(PointlimeError):
    """A model that cannot be opened, or a callable model that raised (the callable's exception
    is the __cause__) or answered with the wrong shape or type."""


class SettingsError(PointlimeError, ValueError):
    """Settings of the wrong type, out of range, or that do not apply."""


class InputError(PointlimeError, ValueError):
    """Arrays of the wrong shape or type."""


class InternalError(PointlimeError):
    """A bug in pointlime, caught at the boundary instead of aborting Python."""
