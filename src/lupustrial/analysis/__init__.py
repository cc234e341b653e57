"""The trial's own statistical methods, on arrays or ADaM data, equal to R.

Single fits: :func:`ancova_gmr`, :func:`ancova`, :func:`kaplan_meier`, :func:`logrank`,
:func:`cox`, :func:`responder`, :func:`negative_binomial`, :func:`poisson`, :func:`mmrm`,
:func:`ae_summary`; batched over a leading trials axis for design: :func:`cox_batch`,
:func:`ancova_gmr_batch`, :func:`ancova_batch`, :func:`logrank_batch` (the registered methods'
batched twins, ``METHODS[name].batch``); a statistical analysis plan (:class:`AnalysisPlan`, methods
registered in :data:`METHODS`) run on one trial's ADaM data: :func:`analyze_trial`.
"""

from lupustrial.analysis.ae import ae_summary
from lupustrial.analysis.ancova import ancova, ancova_gmr, geometric_means
from lupustrial.analysis.batch import ancova_batch, ancova_gmr_batch, cox_batch, logrank_batch
from lupustrial.analysis.counts import negative_binomial, poisson
from lupustrial.analysis.cox import cox
from lupustrial.analysis.methods import METHODS
from lupustrial.analysis.mmrm import mmrm
from lupustrial.analysis.plan import AnalysisPlan, Endpoint, load_plan
from lupustrial.analysis.responder import responder
from lupustrial.analysis.survival import kaplan_meier, kaplan_meier_by, logrank
from lupustrial.analysis.trial import analyze_trial, load_for_plan

__all__ = [
    "METHODS",
    "AnalysisPlan",
    "Endpoint",
    "ae_summary",
    "analyze_trial",
    "ancova",
    "ancova_batch",
    "ancova_gmr",
    "ancova_gmr_batch",
    "cox",
    "cox_batch",
    "geometric_means",
    "kaplan_meier",
    "kaplan_meier_by",
    "load_for_plan",
    "load_plan",
    "logrank",
    "logrank_batch",
    "mmrm",
    "negative_binomial",
    "poisson",
    "responder",
]
