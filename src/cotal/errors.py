"""User-facing errors: one line that says what is wrong and where; the CLI exits non-zero."""


class CotalError(Exception):
    """Base class for errors caused by input, configuration or files (not by bugs)."""


class DataError(CotalError, ValueError):
    """A dataset, feature file or annotation file is missing, malformed or inconsistent."""


class ConfigError(CotalError, ValueError):
    """A configuration value or command-line option is invalid."""


class NumericalError(CotalError, ArithmeticError):
    """Training produced a non-finite loss or model (NaN/Inf): the message names the step, videos and term."""


class DataWarning(UserWarning):
    """Input that cotal reads, but not as written (e.g. labels normalised to one spelling); the CLI prints one line."""
