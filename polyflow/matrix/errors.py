"""The one error of the matrix package."""

from __future__ import annotations


class MatrixError(ValueError):
    """Matrix values that cannot make trials, or a space value that is no space.

    The message says what is wrong and where ("item 3: unknown input 'shard' ...");
    `path` locates it below the value it is about, for the spec's error paths
    (a pchoice's second pair: `(1,)`).
    """

    def __init__(self, message: str, path: tuple = ()):
        super().__init__(message)
        self.path = path
