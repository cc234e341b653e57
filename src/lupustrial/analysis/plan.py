"""The statistical analysis plan as data: which endpoints, analysed how, in whom.

One schema serves twice: as the ``endpoints`` (and ``safety``) of a protocol, which
``analyze``, ``simulate``, ``reproduce`` and ``design`` read, and as a plan file of its own
for a real trial that has no protocol here (``lupustrial analyze DIR --plan plan.yaml``):

    arms: {variable: TRT01P, reference: Placebo}       # every other arm is compared with it
    endpoints:
      - {name: Time to first event, param: TTDE, analysis: cox}
      - {name: ALT at week 24, param: ALT, analysis: ancova_log, week: 24}
    safety: {treatment_emergent: TRTEMFL}

Endpoints are listed in the order of the plan's hierarchy: the first is the primary endpoint.
``analysis`` names a registered method (:data:`lupustrial.analysis.methods.METHODS`), which
declares the optional keys it needs and uses; a key it does not use is refused, not ignored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from lupustrial.analysis.endpoint_data import READERS
from lupustrial.analysis.methods import METHODS, Method
from lupustrial.errors import LupustrialError
from lupustrial.yamlfile import load_yaml_model


class PlanError(LupustrialError):
    """A plan file that cannot be read or is not a valid plan."""


class _Strict(BaseModel):
    """Unknown keys are errors: a typo in a plan must not be silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


Column = Annotated[str, Field(min_length=1, description="an ADaM column name")]


class Endpoint(_Strict):
    """One endpoint: a parameter, the method that analyses it, and the options the method uses."""

    name: str = Field(min_length=1, description="how reports name the endpoint")
    param: str = Field(min_length=1, description="ADaM PARAMCD (for a count read from ADSL: the column)")
    analysis: str = Field(description="registered method, e.g. ancova_log, cox")
    week: Annotated[float, Field(ge=0)] | None = Field(
        default=None, description="visit (AVISITN) analysed; for time to event, when S(t) is reported")
    population: Column = Field(default="ITTFL", description="ADSL flag: subjects with Y are analysed")
    factors: list[Column] = Field(default_factory=list, description="ADSL columns adjusted for (categorical)")
    strata: list[Column] = Field(default_factory=list, description="ADSL columns stratified by")
    ties: Literal["efron", "breslow"] = "efron"
    firth: bool = Field(default=False, description="also fit Firth's penalised Cox (profile CIs)")
    dataset: str | None = Field(default=None, description="dataset read, if not the method's usual one")
    exposure: Column | None = Field(default=None, description="column of follow-up days of a count")

    @field_validator("analysis")
    @classmethod
    def _registered(cls, name: str) -> str:
        if name not in METHODS:
            raise ValueError(f"unknown analysis {name!r} (one of {', '.join(sorted(METHODS))})")
        return name

    @field_validator("dataset")
    @classmethod
    def _lower(cls, name: str | None) -> str | None:
        return None if name is None else name.lower()

    @model_validator(mode="after")
    def _keys_fit_method(self) -> Endpoint:
        method = self.method
        for key in method.requires:
            if getattr(self, key) is None:
                raise ValueError(f"{self.analysis} needs {key}")
        for key in OPTIONAL_KEYS:
            if key not in method.requires + method.uses and getattr(self, key) != Endpoint.model_fields[key].get_default(
                    call_default_factory=True):
                raise ValueError(f"{self.analysis} does not use {key}")
        if self.source == "adsl" and self.method.reads != "count":
            raise ValueError(f"{self.analysis} reads records by PARAMCD, which ADSL has not: name another dataset")
        return self

    @property
    def method(self) -> Method:
        return METHODS[self.analysis]

    @property
    def source(self) -> str:
        """The dataset the endpoint reads: its own ``dataset``, else the method's usual one."""
        return self.dataset or READERS[self.method.reads].dataset


#: Keys only some methods use (see :class:`~lupustrial.analysis.methods.Method`).
OPTIONAL_KEYS = ("week", "factors", "strata", "ties", "firth", "exposure")


def unique_names(endpoints: list[Endpoint]) -> list[Endpoint]:
    """``endpoints`` if no two share a name (reports and JSON tell them apart by it)."""
    names = [e.name for e in endpoints]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"endpoint names must be unique: {', '.join(twice)}")
    return endpoints


class Arms(_Strict):
    """Which ADSL column holds the arm, and the reference arm every other arm is compared with."""

    variable: Column = "TRT01P"
    reference: str | None = Field(default=None, description="default: the arm called Placebo (any case)")
    treatments: list[str] | None = Field(default=None, description="arms compared (default: all the others)")


class Safety(_Strict):
    """The adverse-event tables: in whom, by which arm, and which records count."""

    population: Column = Field(default="SAFFL", description="ADSL flag of the safety population")
    variable: Column = Field(default="TRT01A", description="ADSL column of the arm actually received")
    treatment_emergent: Column | None = Field(
        default=None, description="ADAE flag: only records with Y count (e.g. TRTEMFL); all records if absent")


class AnalysisPlan(_Strict):
    """A trial's statistical analysis plan (see the module docstring)."""

    arms: Arms = Arms()
    endpoints: list[Endpoint] = Field(min_length=1)
    safety: Safety | None = Safety()
    datasets: dict[str, str] = Field(default_factory=dict,
                                     description="dataset name -> file, relative to the data folder")
    conf_level: Annotated[float, Field(gt=0, lt=1)] = 0.95

    _unique = field_validator("endpoints")(lambda cls, endpoints: unique_names(endpoints))

    @field_validator("datasets")
    @classmethod
    def _lower_names(cls, datasets: dict[str, str]) -> dict[str, str]:
        return {k.lower(): v for k, v in datasets.items()}

    @property
    def primary(self) -> Endpoint:
        """The first endpoint: the plan's primary."""
        return self.endpoints[0]

    def with_options(self, *, reference: str | None = None, treatment: str | None = None,
                     week: float | None = None, factors: tuple[str, ...] = (), ties: str | None = None) -> AnalysisPlan:
        """The plan with the command line's changes: the reference arm, one treatment arm only,
        the week of every endpoint analysed at a visit, factors added to those endpoints, the
        Cox ties of every endpoint that has them. Invalid values raise pydantic's ValidationError."""
        data = self.model_dump()
        if reference is not None:
            data["arms"]["reference"] = reference
        if treatment is not None:
            data["arms"]["treatments"] = [treatment]
        for ep in data["endpoints"]:
            method = METHODS[ep["analysis"]]
            if week is not None and "week" in method.requires:
                ep["week"] = week
            if factors and method.reads == "visit" and "factors" in method.uses:
                ep["factors"] = list(dict.fromkeys([*ep["factors"], *factors]))
            if ties is not None and "ties" in method.uses:
                ep["ties"] = ties
        return AnalysisPlan.model_validate(data)

    def keyed(self, *analyses: str) -> list[tuple[str, Endpoint]]:
        """Endpoints analysed by any of ``analyses`` (all if none), in plan order, with their YAML key."""
        return [(f"endpoints[{i}]", e) for i, e in enumerate(self.endpoints) if not analyses or e.analysis in analyses]

    def by_analysis(self, *analyses: str) -> list[Endpoint]:
        """Endpoints analysed by any of ``analyses``, in plan order."""
        return [e for _, e in self.keyed(*analyses)]


def load_plan(path: str | Path) -> AnalysisPlan:
    """Read and validate a plan file; every problem is one line naming the file, line and key."""
    path = Path(path)
    if not path.is_file():
        raise PlanError(f"{path}: no such plan file")
    return load_yaml_model(path, AnalysisPlan, PlanError, "a plan")
