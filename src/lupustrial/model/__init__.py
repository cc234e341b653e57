"""lupustrial.model."""
