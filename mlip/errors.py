"""The one exception type for mistakes a user can fix (bad input, bad config, missing file).

The CLI prints such an error as a single line and exits non-zero, with no traceback.
Anything else that escapes is a bug in seimlip and keeps its traceback.
"""


class UserError(Exception):
    """A problem with what the user gave us: say what is wrong and where, in one line."""

    def __init__(self, message: str, where: str | None = None):
        self.where, self.message = where, message
        super().__init__(f"{where}: {message}" if where else message)


def first_line(exc: BaseException, limit: int = 160) -> str:
    """The first non-empty line of an exception's message (its type name when it has none), for a
    one-line error that quotes what a library said."""
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:limit]
