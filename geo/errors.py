"""The domain's exceptions. ``api/errors.py`` maps them to HTTP status codes; the CLI prints their message."""

from __future__ import annotations


class GeoError(Exception):
    """Base of every error GridMap reports to a user (one clear line, no traceback)."""

    #: short machine-readable kind, used as the problem ``type`` suffix in the API
    kind = "error"


class InvalidInput(GeoError):
    """A file, parameter or record the user gave cannot be used as it is."""

    kind = "invalid-input"


class NotFound(GeoError):
    """A code, id or file that does not exist."""

    kind = "not-found"


class Conflict(GeoError):
    """A state change that lost a race or breaks a rule (e.g. two plans approved at once)."""

    kind = "conflict"


class DatabaseUnavailable(GeoError):
    """The database cannot be reached."""

    kind = "database-unavailable"


class SetupError(GeoError):
    """The local PostGIS cannot be installed or started; the message says what to do."""

    kind = "setup"


class PermissionDenied(GeoError):
    """The caller's role or scope does not allow the request."""

    kind = "forbidden"
