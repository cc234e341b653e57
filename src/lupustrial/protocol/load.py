"""Read a protocol from YAML, with errors that name the file, line and key.

A protocol is written by hand, so its errors must point at the line to fix:
``beat.yaml, line 31, key arms[0].dosing[0].dose: Input should be greater than 0``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from lupustrial.errors import LupustrialError
from lupustrial.protocol.schema import Protocol
from lupustrial.yamlfile import load_yaml_model

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
    return load_yaml_model(resolve_protocol(spec), Protocol, ProtocolError, "a protocol")
