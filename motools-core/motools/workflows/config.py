"""Loading workflow configs from YAML: unknown keys are errors and ``1e-4`` is a float."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml

from motools.errors import ValidationError, format_validation_errors


class _Loader(yaml.SafeLoader):
    """YAML 1.1 reads ``1e-4`` (no dot) as a string; researchers mean a number."""


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


def load_yaml(text_or_path: str | os.PathLike[str]) -> Any:
    """Parse YAML text, or the file at a path, with the number-friendly loader."""
    if isinstance(text_or_path, os.PathLike) or (
        isinstance(text_or_path, str) and "\n" not in text_or_path and Path(text_or_path).is_file()
    ):
        path = Path(text_or_path)
        try:
            return yaml.load(path.read_text(), Loader=_Loader)
        except yaml.YAMLError as exc:
            raise ValidationError(f"{path}: invalid YAML: {exc}") from None
    try:
        return yaml.load(str(text_or_path), Loader=_Loader)
    except yaml.YAMLError as exc:
        raise ValidationError(f"invalid YAML: {exc}") from None


def format_pydantic_error(exc: Any, source: str) -> str:
    """A workflow config's validation errors, one line each."""
    return format_validation_errors(exc, f"{source}: invalid workflow config:")
