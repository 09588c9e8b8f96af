"""The errors a user can act on. Each is one line, raised by domain code and said once by the
command layer (`matrix.cli.main`): "matrix <command>: error: <line>", exit 2, no traceback.

The subclasses say where the line comes from; none needs handling of its own. Errors that are
results rather than input (a cell's environment that cannot be built: lock.EnvError) are not
in this family: they become that cell's env_error and the run goes on.
"""


class UserError(Exception):
    """Bad input, or a state the user must change first: one line."""


class SpecError(UserError):
    """A spec that cannot be read: the file, the place in it, what was expected."""


class IndexUnavailable(UserError):
    """The package index could not answer and no cached answer exists."""


class FormatError(UserError, ValueError):
    """A results or run file that is not in the published format."""


class Busy(UserError):
    """Another run holds the results folder."""


class MergeError(UserError):
    """Run folders that cannot be one run."""


class HistoryError(UserError):
    """A history database this version cannot use."""


class BisectError(UserError):
    """Nothing to search, or bad bisect input."""


class CatalogueError(UserError):
    """The corpus table cannot be listed or written."""


class ReportError(UserError):
    """Results the report cannot be written from."""


class ProbeRefused(Exception):
    """A cell's probe refused its input (exit 2): the run stops with the probe's one line (not a
    UserError of its own: the line is the probe's, said by the run)."""
