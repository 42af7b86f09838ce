"""The one exception type for mistakes a user can fix (bad input, bad config, missing file).

The CLI prints such an error as a single line and exits non-zero, with no traceback.
Anything else that escapes is a bug in seimlip and keeps its traceback.
"""


class UserError(Exception):
    """A problem with what the user gave us: say what is wrong and where, in one line."""

    def __init__(self, message: str, where: str | None = None):
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)
