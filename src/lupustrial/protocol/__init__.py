"""lupustrial.protocol."""
