"""lupustrial: trials of sequential B-cell therapy (rituximab then belimumab) in SLE.

Data flows one way: protocol + model -> population -> simulate -> ADaM -> analysis -> report.
"""

__version__ = "0.1.0"
