"""How the ``motools`` command reports an error: one line per problem, never a traceback.

Each line reads ``motools: error: <where>: <what> ...`` and stands on its own, so a message
that lists several problems (a workflow config with three bad fields) becomes three lines,
each carrying its header. Exceptions that are not motools' own (an unreadable file, a bug)
are described as well, and ``--debug`` (or ``MOTOOLS_DEBUG=1``) adds the traceback.
"""

from __future__ import annotations

import errno
import sys
from pathlib import Path
from typing import TextIO

from motools.errors import MotoolsError


class UsageError(MotoolsError):
    """The command line itself is wrong (a file argument that is missing, say): exit code 2."""


#: No error line echoes more than this many characters (a huge input is cut, never printed).
MAX_LINE = 500

_OS_HINTS = {
    errno.ENOENT: "no such file or directory; check the path",
    errno.EISDIR: "is a directory; give the path of a file",
    errno.ENOTDIR: "a part of the path is not a directory; check the path",
    errno.EACCES: "permission denied; check the file's permissions",
    errno.EPERM: "operation not permitted; check the file's permissions",
    errno.EROFS: "the file system is read-only; write somewhere else",
    errno.ENOSPC: "no space left on the device; free some space",
}


def describe(exc: BaseException) -> str:
    """What went wrong, as text that may span lines (one problem per indented line)."""
    if isinstance(exc, MotoolsError):
        return str(exc)
    if isinstance(exc, OSError) and exc.errno in _OS_HINTS:
        where = exc.filename if exc.filename is not None else "file"
        return f"{where}: {_OS_HINTS[exc.errno]}"
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"{exc.filename}: {exc.strerror or exc}"
    if isinstance(exc, UnicodeDecodeError):
        return (
            f"input is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset "
            f"{exc.start}); save the file as UTF-8"
        )
    try:
        import pydantic
    except ImportError:  # pragma: no cover - pydantic is a dependency of motools-core
        pydantic = None  # type: ignore[assignment]
    if pydantic is not None and isinstance(exc, pydantic.ValidationError):
        from motools.errors import format_validation_errors

        return format_validation_errors(exc, f"invalid {exc.title}:")
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"


def one_line_each(message: str) -> list[str]:
    """``"header:\\n  a: x\\n  b: y"`` -> ``["header: a: x", "header: b: y"]``.

    Indentation nests: each line that has no more-indented line under it is one problem,
    printed with the lines above it that it is nested under.
    """
    lines = [ln for ln in message.splitlines() if ln.strip()]
    if not lines:
        return [message.strip() or "unknown error"]
    indents = [len(ln) - len(ln.lstrip()) for ln in lines]
    stack: list[tuple[int, str]] = []
    out: list[str] = []
    for i, (line, indent) in enumerate(zip(lines, indents, strict=True)):
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, line.strip()))
        leaf = i + 1 == len(lines) or indents[i + 1] <= indent
        if leaf:
            out.append(" ".join(text for _, text in stack))
    return out


def _cut(line: str) -> str:
    return line if len(line) <= MAX_LINE else line[: MAX_LINE - 3] + "..."


def print_error(message: str, *, file: TextIO | None = None, hint: str = "") -> None:
    """Print ``message`` as ``motools: error:`` lines (see :func:`one_line_each`)."""
    stream = file or sys.stderr
    lines = one_line_each(message)
    for i, line in enumerate(lines):
        suffix = hint if i == len(lines) - 1 else ""
        stream.write(f"motools: error: {_cut(line)}{suffix}\n")
    stream.flush()


def input_file(path: str, what: str = "file", option: str = "") -> Path:
    """``path`` if it is a readable file; else a :class:`UsageError` saying what to fix."""
    p = Path(path)
    label = f"{option} {path}" if option else path
    if p.is_dir():
        raise UsageError(f"{label}: is a directory; give the path of a {what}")
    if not p.exists():
        raise UsageError(f"{label}: no such file; check the path of the {what}")
    return p


def output_file(path: str, option: str) -> Path:
    """``path`` if a file can be written there; else a :class:`UsageError` saying why not."""
    p = Path(path)
    if p.is_dir():
        raise UsageError(f"{option} {path}: is a directory; give a file name")
    parent = p.parent
    if not parent.is_dir():
        raise UsageError(
            f"{option} {path}: folder {parent} does not exist; create it or choose another path"
        )
    return p


def report(exc: BaseException, *, debug: bool = False) -> int:
    """Print ``exc`` for a person (with the traceback when ``debug``); return exit code 1."""
    if debug:
        import traceback

        traceback.print_exception(exc, file=sys.stderr)
    expected = isinstance(exc, MotoolsError) or (
        isinstance(exc, OSError) and exc.errno in _OS_HINTS
    )
    hint = "" if expected or debug else " (run again with --debug for the traceback)"
    print_error(describe(exc), hint=hint)
    return 2 if isinstance(exc, UsageError) else 1
