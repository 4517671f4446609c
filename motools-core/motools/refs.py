"""The one parser of references to code and data.

Everything a user may name in a config, on the command line or in Python goes through
:func:`parse_ref`:

* ``"package.module:attr"`` (or ``"package.module:Class.attr"``) -- an object in a module
* ``"path/to/file.py@name"`` -- an object defined in a Python file; ``"file.py"`` alone names
  the whole file
* ``"data.jsonl"`` (any path with a data suffix, or an existing file) -- a file
* anything else (``"gsm8k"``, ``"inspect_evals/gsm8k"``) -- a registered name

Datasets, tasks, the cache's task identity and the CLI all use this module, so the cache's
idea of a task is always the runner's.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from motools.errors import ValidationError

RefKind = Literal["object", "pyfile", "path", "name"]
DATA_SUFFIXES = (".jsonl", ".json", ".yaml", ".yml", ".csv", ".parquet")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Ref:
    """A parsed reference. ``kind`` says which fields are set."""

    text: str
    kind: RefKind
    module: str | None = None  # kind "object"
    attr: str | None = None  # kind "object" and "pyfile" (None: the whole file)
    path: Path | None = None  # kinds "pyfile" and "path"

    @property
    def name(self) -> str:
        """The registered name (kind "name"), or the text itself."""
        return self.text

    def load(self) -> Any:
        """Import and return the object an ``object`` or ``pyfile`` reference names."""
        if self.kind == "object":
            assert self.module is not None
            obj: Any = importlib.import_module(self.module)
            where = self.module
        elif self.kind == "pyfile":
            assert self.path is not None
            obj = load_file_module(self.path)
            where = str(self.path)
            if self.attr is None:
                return obj
        else:
            raise ValidationError(f"{self.text!r} names a {self.kind}, not an importable object")
        for part in (self.attr or "").split("."):
            if not part:
                continue
            try:
                obj = getattr(obj, part)
            except AttributeError:
                raise ValidationError(f"{self.text!r}: {where} has no attribute {part!r}") from None
        return obj

    def source_digest(self) -> str | None:
        """A digest of the source that defines this reference (file or module); None if unknown."""
        if self.kind in ("pyfile", "path"):
            assert self.path is not None
            return file_digest(self.path)
        if self.kind == "object":
            assert self.module is not None
            return module_digest(self.module)
        return None


def parse_ref(text: str, *, what: str = "reference") -> Ref:
    """Parse ``text`` (see the module docstring); malformed references raise ValidationError."""
    if not isinstance(text, str):
        raise ValidationError(f"{what} must be a string, got {type(text).__name__}")
    ref = text.strip()
    if not ref:
        raise ValidationError(f"{what} is empty")
    if "@" in ref and ref.split("@", 1)[0].endswith(".py"):
        path, _, attr = ref.partition("@")
        if not all(_IDENTIFIER.match(p) for p in attr.split(".")):
            raise ValidationError(f"{what} {text!r}: {attr!r} is not a Python name")
        return Ref(ref, "pyfile", attr=attr, path=Path(path))
    if ref.endswith(".py"):
        return Ref(ref, "pyfile", path=Path(ref))
    suffix = os.path.splitext(ref.rstrip("/"))[1].lower()
    if suffix in DATA_SUFFIXES or ("/" in ref and os.path.exists(ref)) or os.path.isfile(ref):
        return Ref(ref, "path", path=Path(ref))
    if ":" in ref:
        module, _, attr = ref.partition(":")
        bad = [p for p in module.split(".") if not _IDENTIFIER.match(p)]
        if bad:
            raise ValidationError(
                f"{what} {text!r}: {module!r} is not a module path (expected 'package.module:name')"
            )
        if not attr or not all(_IDENTIFIER.match(p) for p in attr.split(".")):
            raise ValidationError(
                f"{what} {text!r}: {attr!r} is not a Python name (expected 'package.module:name')"
            )
        return Ref(ref, "object", module=module, attr=attr)
    return Ref(ref, "name")


def import_object(target: str) -> Any:
    """Import ``"module:attr"`` (or the older ``"module.attr"``) and return the object."""
    if ":" not in target:
        module, _, attr = target.rpartition(".")
        target = f"{module}:{attr}"
    ref = parse_ref(target)
    if ref.kind != "object":
        raise ValidationError(f"{target!r} is not a 'module:name' reference")
    obj: Any = importlib.import_module(ref.module or "")
    for part in (ref.attr or "").split("."):
        obj = getattr(obj, part)
    return obj


def load_file_module(path: str | Path) -> Any:
    """Import a Python file as a module (cached by its resolved path)."""
    import sys

    resolved = Path(path).resolve()
    if not resolved.is_file():
        raise ValidationError(f"{path}: no such Python file")
    name = "motools_file_" + hashlib.sha256(str(resolved).encode()).hexdigest()[:16]
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, resolved)
    if spec is None or spec.loader is None:
        raise ValidationError(f"{path}: cannot be imported as a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


#: Digests of files already read, by path and the file's (inode, size, mtime): a file that
#: changes is read again; one that does not is hashed once per process (a sweep asks for the
#: same task and loader sources once per member). A file modified in the last two seconds is
#: always read (its mtime may not show a second edit in the same clock tick).
_FILE_DIGESTS: dict[str, tuple[tuple[int, int, int], str]] = {}
#: Source files of modules already found (a module does not move within a process).
_MODULE_ORIGINS: dict[str, str] = {}


def file_digest(path: str | Path) -> str | None:
    """The first 16 hex digits of a file's sha256, or None if it cannot be read."""
    found = file_sha256(path)
    return found[:16] if found is not None else None


def file_sha256(path: str | Path) -> str | None:
    """A file's sha256 (hex), or None if it cannot be read; hashed once per process while
    the file is unchanged."""
    name = os.fspath(path)
    try:
        st = os.stat(name)
    except OSError:
        return None
    stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
    known = _FILE_DIGESTS.get(name)
    settled = time.time_ns() - st.st_mtime_ns > 2_000_000_000  # not possibly mid-edit
    if known is not None and known[0] == stamp and settled:
        return known[1]
    digest = hashlib.sha256()
    try:
        with Path(path).open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    except OSError:
        return None
    found = digest.hexdigest()
    _FILE_DIGESTS[name] = (stamp, found)
    return found


def module_digest(module: str) -> str | None:
    """The digest of a module's source file, found without importing it; None if unknown."""
    origin = _MODULE_ORIGINS.get(module)
    if origin is None:
        try:
            spec = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            return None
        if spec is None or not spec.origin or not spec.has_location:
            return None
        origin = _MODULE_ORIGINS[module] = spec.origin
    return file_digest(origin)
