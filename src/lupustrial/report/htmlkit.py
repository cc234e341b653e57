"""What every HTML page of lupustrial shares: colours, the template environment, figures as PNG.

A page must open offline and be mailed as one file: figures are base64 PNGs drawn on
:class:`matplotlib.figure.Figure` objects (Agg, no pyplot state, safe from worker threads).
"""

from __future__ import annotations

import base64
import io

import numpy as np
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from matplotlib.axis import Axis
from matplotlib.figure import Figure as MplFigure
from matplotlib.ticker import FuncFormatter

#: Arm colours, in the order arms are drawn (treatment first, reference second in a two-arm trial).
ARM_COLOURS = ("#1f5fa8", "#c0462f", "#2e8b57", "#8e5ea2", "#d4a017", "#5f6b73")
ENV = Environment(loader=PackageLoader("lupustrial.report"), autoescape=select_autoescape(["j2"]),
                  undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
ENV.filters["num"] = lambda x: "NA" if x is None or not np.isfinite(x) else f"{x:.3g}"


def figure_png(fig: MplFigure) -> str:
    """Base64 PNG without matplotlib's Software tag, so the file names no website."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    return base64.b64encode(buf.getvalue()).decode("ascii")


def plain_log_labels(axis: Axis) -> None:
    """Label a log axis 0.01, 0.02, 0.05, 0.1 rather than in powers of ten, as trialists read it.

    Fewer mantissas are labelled the more decades the axis spans, so labels never crowd.
    """
    def label(v: float, _: int) -> str:
        lo, hi = sorted(axis.get_view_interval())
        decades = np.log10(hi / lo) if lo > 0 else np.inf
        mantissas = (1,) if decades > 2.5 else (1, 2, 5) if decades > 1.2 else (1, 2, 3, 5)
        return f"{v:g}" if v > 0 and round(v / 10 ** np.floor(np.log10(v))) in mantissas else ""

    axis.set_major_formatter(FuncFormatter(label))
    axis.set_minor_formatter(FuncFormatter(label))
