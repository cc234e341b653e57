"""lupustrial.analysis."""
