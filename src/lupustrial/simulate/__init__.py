"""lupustrial.simulate."""
