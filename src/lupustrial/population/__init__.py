"""lupustrial.population."""
