"""One exception type for every mistake a user can make.

The CLI prints ``BabelgraphError`` messages as a single line and exits with status 2; anything else is a bug
and keeps its traceback.
"""


class BabelgraphError(Exception):
    """A user-facing error: the message says what went wrong and what to do about it."""
