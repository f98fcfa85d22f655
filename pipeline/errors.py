"""Errors that the command line turns into a one-line message and exit code 2."""


class UsageError(Exception):
    """Bad parameters, files or configs supplied by the user (exit code 2)."""


class ConfigError(UsageError, ValueError):
    """A configuration value is unknown, of the wrong type or out of range. The message names the key."""
