"""lupustrial.design."""
