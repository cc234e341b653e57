"""Protocol as code: trial designs in YAML, validated (see :mod:`.schema`)."""

from lupustrial.protocol.dosing import protocol_dosing, regimen_events
from lupustrial.protocol.load import ProtocolError, bundled_protocols, load_protocol, resolve_protocol
from lupustrial.protocol.schema import Arm, Dosing, Endpoint, Factor, Lab, Protocol, Randomisation

__all__ = [
    "Arm",
    "Dosing",
    "Endpoint",
    "Factor",
    "Lab",
    "Protocol",
    "ProtocolError",
    "Randomisation",
    "bundled_protocols",
    "load_protocol",
    "protocol_dosing",
    "regimen_events",
    "resolve_protocol",
]
