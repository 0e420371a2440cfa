"""Which operation, and why: the decision rules in plain words.

Rules (DOMAIN.md, Surgery; in this order):

1. Purulent discharge -> ``contraindicated``: infection is treated first.
2. No lesion found -> ``none``.  Milky/green/grey/black, multi-duct or bilateral
   discharge gets the advice to check prolactin and medication; bloody discharge gets a
   warning that a normal galactogram does not rule out disease.
3. Disease in two or more systems, discharge from several ducts, or a discharging duct
   that cannot be determined -> ``hadfield``.
4. Otherwise (one system, one discharging duct) -> ``microdochectomy``.

Clinical modifiers (wish to breastfeed, age with bloody discharge) shape the rationale
and warnings; with ``PlanSettings.prefer_hadfield_when_older`` age also switches the
operation.  Contradicting inputs produce warnings, never exceptions.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from reconstruction.tree import DuctTree

from .clinical import ClinicalContext
from .lesions import Lesion
from .settings import PlanSettings
from .sites import LesionSite, locate_lesions

__all__ = ["Decision", "PROCEDURE_KINDS", "decide"]

#: Procedure kinds of the output contract.
PROCEDURE_KINDS = ("microdochectomy", "hadfield", "none", "contraindicated")

_LOCALISATION_ADVICE = ("localise it under imaging guidance (wire, radioguided seed or radar "
                        "marker) and plan a segmental excision")


@dataclass
class Decision:
    """The chosen operation with its reasons.

    Attributes
    ----------
    kind : str
        One of ``PROCEDURE_KINDS``.
    rationale : list of str
        Plain-language reasons, in the order a surgeon reads them.
    warnings : list of str
        Contradictions, caveats and advice that need attention.
    disease_systems : tuple of int
        Systems with at least one lesion.
    target_system : int or None
        The system a microdochectomy removes.
    ambiguous_lesions : tuple of int
        Lesions touching more than one system.
    """

    kind: str
    rationale: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    disease_systems: tuple[int, ...] = ()
    target_system: int | None = None
    ambiguous_lesions: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in PROCEDURE_KINDS:
            raise ValueError(f"unknown procedure kind {self.kind!r}; expected one of {PROCEDURE_KINDS}")


def _ids(values) -> str:
    values = list(values)
    if len(values) == 1:
        return str(values[0])
    return ", ".join(str(v) for v in values[:-1]) + f" and {values[-1]}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _input_warnings(clinical: ClinicalContext, n_systems_with_disease: int) -> list[str]:
    """Warnings about the clinical inputs themselves (unknown words, contradictions)."""
    w = []
    if clinical.unknown_fields:
        w.append(f"Clinical fields not used by the planner: {', '.join(clinical.unknown_fields)}.")
    if not clinical.is_recognised_discharge:
        w.append(f"Discharge described as {clinical.discharge!r} is not a recognised type "
                 "(bloody, serous, clear, milky, purulent, green, grey, black); the plan treats "
                 "it as unspecified.")
    n = clinical.discharging_ducts
    if clinical.bilateral and n == 1:
        kind = f"{clinical.discharge} " if clinical.discharge else ""
        w.append(f"Contradicting clinical inputs: bilateral discharge together with a single "
                 f"discharging duct ({kind}discharge). Bilateral discharge is usually multi-duct "
                 "and physiological; check the history and which breast and pore discharge.")
    if n == 1 and n_systems_with_disease >= 2:
        w.append(f"Contradicting inputs: one discharging duct was reported, but disease was found "
                 f"in {n_systems_with_disease} ductal systems. Check which pore discharges; the "
                 "plan follows the imaging.")
    if n == 0 and clinical.discharging_duct_identified:
        w.append("Contradicting clinical inputs: zero discharging ducts, yet the discharging duct "
                 "is said to be identified.")
    return w


def decide(tree: DuctTree, lesions: list[Lesion], clinical: ClinicalContext | None = None, *,
           settings: PlanSettings | None = None,
           sites: list[LesionSite] | None = None) -> Decision:
    """Choose the operation from the tree, the lesions and the clinical context.

    Parameters
    ----------
    tree : DuctTree
    lesions : list of Lesion
        Lesions to treat (air bubbles and other artefacts already removed).
    clinical : ClinicalContext, optional
        Unknown context when omitted.
    settings : PlanSettings, optional
    sites : list of LesionSite, optional
        From ``locate_lesions``; computed when omitted.

    Returns
    -------
    Decision

    Examples
    --------
    >>> from reconstruction.tree import Branch, DuctSystem
    >>> t = DuctTree([Branch(0, 0, None, [[0, 0, 0], [30, 0, 0]], [1.0, 1.0])],
    ...              [DuctSystem(0, [0, 0, 0], root_branch=0)])
    >>> d = decide(t, [Lesion(0, "filling_defect", [20, 0, 0], 4.0)],
    ...            ClinicalContext(discharge="bloody", discharging_ducts=1))
    >>> d.kind, d.target_system
    ('microdochectomy', 0)
    >>> decide(t, [], ClinicalContext(discharge="purulent")).kind
    'contraindicated'
    """
    clinical = clinical or ClinicalContext()
    settings = settings or PlanSettings()
    if sites is None:
        sites = locate_lesions(tree, lesions, snap_mm=settings.duct_snap_mm,
                               min_system_length_mm=settings.min_system_length_mm)
    if len(sites) != len(lesions):
        raise ValueError(f"{len(sites)} lesion sites for {len(lesions)} lesions")

    disease = sorted({s for site in sites for s in site.systems_touched})
    ambiguous = tuple(site.lesion for site in sites if site.ambiguous)
    off_duct = [site.lesion for site in sites if not site.systems_touched]
    warnings = _input_warnings(clinical, len(disease))
    for stub in sorted({s for site in sites for s in site.stubs_touched}):
        near = [site.lesion for site in sites if stub in site.stubs_touched]
        warnings.append(f"System {stub} has only {tree.system_length_mm(stub):.1f} mm of opacified duct "
                        f"(less than {settings.min_system_length_mm:g} mm: contrast at the nipple, reflux "
                        "into the first millimetres of another orifice or a fragment of the "
                        f"reconstruction); lesion {_ids(near)} touching it is counted in the longer "
                        "system it lies in. Check which pore discharges.")
    rationale: list[str] = []
    older = clinical.age is not None and clinical.age >= settings.older_age_years
    n_ducts = clinical.discharging_ducts

    def done(kind: str, target: int | None = None) -> Decision:
        return Decision(kind=kind, rationale=rationale, warnings=warnings,
                        disease_systems=tuple(disease), target_system=target,
                        ambiguous_lesions=ambiguous)

    # 1. Infection first.
    if clinical.is_purulent:
        rationale.append("Purulent discharge points to infection (periductal mastitis or abscess): "
                         "galactography and duct surgery are contraindicated until it is treated.")
        rationale.append("Treat the infection first (antibiotics, drainage of any abscess), then "
                         "reassess the discharge.")
        if lesions:
            warnings.append(f"{_plural(len(lesions), 'lesion')} seen on this galactogram; image "
                            "again once the infection has settled before planning surgery.")
        return done("contraindicated")

    # 2. Nothing to excise.
    if not lesions:
        pattern = []
        if clinical.is_physiological_type:
            pattern.append(f"{clinical.discharge}")
        if clinical.multi_duct:
            pattern.append(f"from {n_ducts} ducts")
        if clinical.bilateral:
            pattern.append("bilateral")
        if pattern:
            rationale.append(f"No lesion was found and the discharge is {', '.join(pattern)}: this "
                             "pattern is usually physiological, a side effect of medication or a "
                             "sign of a pituitary disorder, not a duct lesion.")
            rationale.append("Advice: check serum prolactin and review medication (drugs that raise "
                             "prolactin, such as antipsychotics, metoclopramide or opiates); refer "
                             "to endocrinology if prolactin is raised. No duct surgery is proposed.")
        else:
            rationale.append("The galactogram shows no filling defect, cut-off, ectasia or cyst, so "
                             "there is no target for duct excision.")
        if clinical.is_bloody:
            warnings.append("A normal galactogram does not rule out disease when the discharge is "
                            "bloody (small papillomas and DCIS can be missed): consider ultrasound, "
                            "MRI or ductoscopy, and a diagnostic duct excision if single-duct "
                            "bloody discharge persists.")
        return done("none")

    # 3./4. Lesions found: which ducts are diseased, and which duct discharges.
    if clinical.is_physiological_type or clinical.bilateral:
        why = "bilateral" if clinical.bilateral and not clinical.is_physiological_type else clinical.discharge
        warnings.append(f"Galactography is not indicated for {why} discharge, which is usually "
                        "physiological: the findings may be incidental; confirm them (ultrasound, "
                        "biopsy) and check prolactin and medication before surgery.")

    for lid in ambiguous:
        site = next(s for s in sites if s.lesion == lid)
        rationale.append(f"Lesion {lid} sits where ductal systems {_ids(site.systems_touched)} meet, "
                         "so it cannot be assigned to a single duct.")
    hadfield_reasons = []
    if len(disease) >= 2:
        hadfield_reasons.append(f"Disease lies in {len(disease)} ductal systems (systems "
                                f"{_ids(disease)}): removing one duct would leave disease behind.")
    if clinical.multi_duct:
        hadfield_reasons.append(f"Discharge comes from {n_ducts} ducts.")
    if clinical.discharging_duct_identified is False or n_ducts == 0:
        hadfield_reasons.append("The discharging duct could not be identified.")
    if not any(site.branch is not None for site in sites):
        # Nothing to follow from an orifice: a microdochectomy has no duct to excise.
        hadfield_reasons.append("No lesion lies on an opacified duct, so the diseased duct cannot "
                                "be determined from the galactogram.")
    if off_duct and disease:
        warnings.append(f"Lesion {_ids(off_duct)} lies on no opacified duct; its duct is unknown.")

    if hadfield_reasons:
        rationale.extend(hadfield_reasons)
        rationale.append(f"Hadfield's procedure (total duct excision) is proposed: all ducts are "
                         f"divided under the nipple and a cone of retroareolar tissue about "
                         f"{settings.cone_depth_mm:g} mm deep is removed.")
        if older and clinical.is_bloody:
            rationale.append(f"Age {clinical.age:g} with bloody discharge also favours total duct "
                             "excision.")
        if clinical.wishes_to_breastfeed:
            warnings.append("She wishes to breastfeed, but Hadfield's procedure divides all ducts "
                            "under the nipple: breastfeeding from this breast will no longer be "
                            "possible. Discuss before surgery; a microdochectomy would spare the "
                            "other ducts but may leave disease behind.")
        if clinical.multi_duct and len(disease) == 1:
            warnings.append(f"{n_ducts} ducts discharge but only system {disease[0]} shows disease: "
                            "the other discharging ducts were not opacified or look normal.")
        return done("hadfield")

    target = disease[0]
    n_les = sum(1 for s in sites if target in s.systems_touched)
    duct_words = "the one discharging duct" if n_ducts == 1 else "one duct"
    who = "The lesion lies" if n_les == 1 else f"All {n_les} lesions lie"
    rationale.append(f"{who} in one ductal system (system {target}), {duct_words}: a "
                     "microdochectomy removes that duct with a sleeve of tissue and spares the "
                     "others.")
    if n_ducts is None:
        warnings.append("The number of discharging ducts was not given: the plan assumes one "
                        "(single-pore discharge is the indication for galactography) and that "
                        f"system {target} is the one that discharges; confirm at surgery by "
                        "probing or dye.")
    if clinical.wishes_to_breastfeed:
        rationale.append("She wishes to breastfeed: a microdochectomy spares the other ducts, so "
                         "breastfeeding from this breast may remain possible.")
    if older and clinical.is_bloody and not clinical.wishes_to_breastfeed:
        if settings.prefer_hadfield_when_older:
            rationale.append(f"Age {clinical.age:g} with bloody discharge: total duct excision is "
                             "preferred (setting prefer_hadfield_when_older), removing all "
                             "retroareolar ducts rather than the one.")
            rationale.append(f"Hadfield's procedure is proposed: all ducts are divided under the "
                             f"nipple and a cone about {settings.cone_depth_mm:g} mm deep is removed.")
            return done("hadfield")
        warnings.append(f"Age {clinical.age:g} with bloody discharge favours total duct excision "
                        "(Hadfield): breastfeeding is no longer a concern and it removes all "
                        "retroareolar ducts. Discuss with the patient.")
    rationale.append("If the duct cannot be probed at surgery, convert to total duct excision "
                     "(Hadfield).")
    return done("microdochectomy", target)


def beyond_reach_advice(lesion_id: int, reason: str) -> str:
    """The warning for a lesion the excision does not reach (plain words)."""
    return f"Lesion {lesion_id} {reason}: {_LOCALISATION_ADVICE}."
