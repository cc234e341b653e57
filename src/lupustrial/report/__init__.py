"""lupustrial.report."""
