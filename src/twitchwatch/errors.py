"""Errors that are the user's to fix: the command line prints them on one line, exit 2."""


class UserError(Exception):
    """Bad input or a bad option. The message names the file or option and says what to do."""


class RecordingError(UserError):
    """A recording that cannot be read: unknown, empty, truncated or inconsistent."""
