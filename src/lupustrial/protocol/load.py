"""Read a protocol from YAML, with errors that name the file, line and key.

A protocol is written by hand, so its errors must point at the line to fix:
``beat.yaml, line 31, key arms[0].dosing[0].dose: Input should be greater than 0``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from lupustrial.errors import LupustrialError
from lupustrial.protocol.schema import Protocol

_BUNDLED = "protocols"


class ProtocolError(LupustrialError):
    """A protocol file that cannot be read or is not a valid design."""


def bundled_protocols() -> dict[str, Path]:
    """Protocols shipped with lupustrial, by name (file stem with ``_`` read as ``-``)."""
    folder = resources.files("lupustrial.protocol") / _BUNDLED
    return {
        p.name.removesuffix(".yaml").replace("_", "-"): Path(str(p))
        for p in folder.iterdir()
        if p.name.endswith(".yaml")
    }


def resolve_protocol(spec: str | Path) -> Path:
    """A YAML path, or the name of a bundled protocol such as ``beat-lupus``."""
    path = Path(spec)
    if path.suffix.lower() in {".yaml", ".yml"} or path.exists():
        if not path.is_file():
            raise ProtocolError(f"{path}: no such protocol file")
        return path
    bundled = bundled_protocols()
    if str(spec) in bundled:
        return bundled[str(spec)]
    names = ", ".join(sorted(bundled))
    raise ProtocolError(f"{spec}: neither a YAML file nor a bundled protocol ({names})")


def load_protocol(spec: str | Path) -> Protocol:
    """Load and validate a protocol; every problem raises :class:`ProtocolError`."""
    path = resolve_protocol(spec)
    text = path.read_text(encoding="utf-8")
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ProtocolError(f"{path}{where}: not valid YAML: {problem}") from None
    if not isinstance(data, dict):
        raise ProtocolError(f"{path}: a protocol is a YAML mapping of keys to values")
    try:
        return Protocol.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        line = _line_of(root, loc)
        where = f", line {line}" if line is not None else ""
        key = _format_loc(loc)
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown key (check the spelling)"
        elif err["type"] == "missing":
            message = "required key is missing"
        more = len(exc.errors()) - 1
        suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
        target = f", key {key}" if key else ""
        raise ProtocolError(f"{path}{where}{target}: {message}{suffix}") from None


def _format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """1-based line of the deepest YAML node on the path ``loc`` (pydantic's error path)."""
    line = None if node is None else node.start_mark.line + 1
    for part in loc:
        child = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == part:
                    child = key if value is None else value
                    line = key.start_mark.line + 1
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if 0 <= part < len(node.value):
                child = node.value[part]
                line = child.start_mark.line + 1
        if child is None:
            break
        node = child
    return line
