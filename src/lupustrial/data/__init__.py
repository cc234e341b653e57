"""lupustrial.data."""
