"""Loading workflow configs from YAML: unknown keys are errors and ``1e-4`` is a float."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml

from motools.errors import ValidationError, format_validation_errors


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """YAML 1.1 reads ``1e-4`` (no dot) as a string; researchers mean a number.

    libyaml's parser when PyYAML has it (a sweep file of thousands of values parses ~10x
    faster), the same safe constructor and resolver either way."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+][0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


#: A config whose YAML aliases expand beyond these sizes is refused (an "alias bomb").
MAX_VALUES = 100_000
MAX_CHARS = 10_000_000
#: Single-line strings ending like this are paths, never YAML text.
_YAML_SUFFIXES = (".yaml", ".yml", ".json")


def _is_path(text_or_path: str | os.PathLike[str]) -> bool:
    if isinstance(text_or_path, os.PathLike):
        return True
    text = str(text_or_path)
    if "\n" in text:
        return False
    return text.strip().lower().endswith(_YAML_SUFFIXES) or Path(text).exists()


def read_text_file(path: str | os.PathLike[str], what: str = "file") -> str:
    """The UTF-8 text of ``path``; a ValidationError naming the path (and line) if it cannot be."""
    p = Path(path)
    if p.is_dir():
        raise ValidationError(f"{p}: is a directory; give the path of a {what}")
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise ValidationError(f"{p}: no such file; check the path of the {what}") from None
    except OSError as exc:
        raise ValidationError(f"{p}: cannot be read ({exc.strerror or exc})") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ValidationError(
            f"{p}: line {line}, column {column}: not UTF-8 text (byte 0x{data[exc.start]:02x}); "
            "save the file as UTF-8"
        ) from None


def check_size(data: Any, source: str) -> None:
    """Refuse data whose aliases (shared or recursive references) expand beyond a sane size.

    YAML anchors and aliases build one object referenced many times; that is cheap to load
    but explodes when the config is copied, hashed or printed. This counts the expanded size
    without expanding it (each shared object is sized once).
    """
    sizes: dict[int, tuple[int, int]] = {}
    active: set[int] = set()

    def size(obj: Any) -> tuple[int, int]:
        if isinstance(obj, str):
            return 1, len(obj)
        if not isinstance(obj, (dict, list, tuple)):
            return 1, 0
        ident = id(obj)
        if ident in sizes:
            return sizes[ident]
        if ident in active:
            raise ValidationError(
                f"{source}: a YAML alias refers to itself (a recursive structure); "
                "remove the recursive anchor"
            )
        active.add(ident)
        values, chars = 1, 0
        items = list(obj.items()) if isinstance(obj, dict) else [(None, v) for v in obj]
        for key, value in items:
            kv, kc = size(key) if key is not None else (0, 0)
            vv, vc = size(value)
            values, chars = values + kv + vv, chars + kc + vc
            if values > MAX_VALUES or chars > MAX_CHARS:
                raise ValidationError(
                    f"{source}: the config expands to more than {MAX_VALUES} values or "
                    f"{MAX_CHARS} characters (YAML aliases repeating an anchor?); "
                    "write the values out or make the config smaller"
                )
        active.discard(ident)
        sizes[ident] = (values, chars)
        return values, chars

    try:
        size(data)
    except RecursionError:
        raise ValidationError(f"{source}: the config is nested too deeply") from None


def load_yaml(text_or_path: str | os.PathLike[str], *, what: str = "YAML file") -> Any:
    """Parse YAML text, or the file at a path, with the number-friendly loader.

    A missing file, a directory, a file that is not UTF-8, invalid YAML and aliases that
    expand beyond a sane size are :class:`ValidationError` s naming the file (and line).
    """
    if _is_path(text_or_path):
        source = str(text_or_path)
        text = read_text_file(text_or_path, what)
    else:
        source, text = "YAML text", str(text_or_path)
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        raise ValidationError(_yaml_problem(exc, source)) from None
    except RecursionError:
        raise ValidationError(f"{source}: the YAML is nested too deeply") from None
    check_size(data, source)
    return data


def _yaml_problem(exc: yaml.YAMLError, source: str) -> str:
    """``file: line L, column C: invalid YAML: problem (context)`` on one line."""
    where = f"{source}: " if source != "YAML text" else ""
    what = str(exc)
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        if mark is not None:
            where += f"line {mark.line + 1}, column {mark.column + 1}: "
        if exc.problem:
            what = exc.problem + (f" ({exc.context})" if exc.context else "")
    return f"{where}invalid YAML: {short_text(what)}; fix the YAML syntax there"


def short_text(text: str, limit: int = 300) -> str:
    """``text`` on one line, cut to ``limit`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def format_pydantic_error(exc: Any, source: str) -> str:
    """A workflow config's validation errors, one line each."""
    return format_validation_errors(exc, f"{source}: invalid workflow config:")
