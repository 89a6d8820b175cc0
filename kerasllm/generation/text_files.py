"""Reading a user's text file (prompts, text to score) with errors that say what to fix."""

import pathlib

from kerasllm.errors import DataError


def read_user_lines(path, what):
    """Lines of the UTF-8 file at `path`, without line endings; `what` names it in errors.

    Example:
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "prompts.txt"
    >>> _ = path.write_text("ROMEO:\\nJULIET:\\n", encoding="utf-8")
    >>> read_user_lines(path, "prompts file")
    ['ROMEO:', 'JULIET:']
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise DataError(f"The {what} {path} does not exist (or is not a file). Check the path.")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise DataError(
            f"The {what} {path} is not UTF-8 text (byte 0x{data[error.start]:02x} on line {line}). "
            "Save it as UTF-8."
        ) from None
    if not text.strip():
        raise DataError(f"The {what} {path} is empty. Put at least one line of text in it.")
    return text.splitlines()


def read_documents(path):
    """One document per non-blank line, stripped: how PTB and WikiText-2 splits are read."""
    return [line.strip() for line in read_user_lines(path, "file to score") if line.strip()]
