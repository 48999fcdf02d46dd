"""Inter-annotator agreement: percent, Fleiss, Krippendorff, Cohen, Gwet, with intervals."""

from .measures import (
    agreement_report,
    annotator_agreement,
    cohen_kappa_mean,
    fleiss_kappa,
    gwet_ac1,
    krippendorff_alpha,
    percent_agreement,
)
from .results import STATISTICS, AgreementReport, AgreementResult

__all__ = [
    "STATISTICS",
    "AgreementReport",
    "AgreementResult",
    "agreement_report",
    "annotator_agreement",
    "cohen_kappa_mean",
    "fleiss_kappa",
    "gwet_ac1",
    "krippendorff_alpha",
    "percent_agreement",
]
