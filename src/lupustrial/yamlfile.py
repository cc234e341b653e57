"""Hand-written YAML validated by a pydantic model, with errors that name the file, line and key.

Protocols and analysis plans are written by hand, so their errors must point at the line to fix:
``plan.yaml, line 4, key endpoints[1].week: Input should be a valid number``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from lupustrial.errors import LupustrialError

M = TypeVar("M", bound=BaseModel)


def load_yaml_model(path: Path, model: type[M], error: type[LupustrialError], what: str) -> M:
    """Read ``path`` and validate it as ``model``; every problem raises ``error`` as one line.

    ``what`` names the document in the message when it is not a mapping ("a protocol").
    """
    text = path.read_text(encoding="utf-8")
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise error(f"{path}{where}: not valid YAML: {problem}") from None
    if not isinstance(data, dict):
        raise error(f"{path}: {what} is a YAML mapping of keys to values")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise error(validation_message(exc, path, root)) from None


def validation_message(exc: ValidationError, path: Path, root: yaml.Node | None) -> str:
    """pydantic's first complaint as ``FILE, line N, key K: message (and k more problems)``."""
    err = exc.errors()[0]
    loc = tuple(err["loc"])
    line = _line_of(root, loc)
    where = f", line {line}" if line is not None else ""
    key = format_loc(loc)
    message = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        message = "unknown key (check the spelling)"
    elif err["type"] == "missing":
        message = "required key is missing"
    more = len(exc.errors()) - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    target = f", key {key}" if key else ""
    return f"{path}{where}{target}: {message}{suffix}"


def format_loc(loc: tuple[Any, ...]) -> str:
    """pydantic's error path as YAML readers write it: ``endpoints[1].week``."""
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
