"""How far to trust annotators and labels: scoring, vetting, cross-validation, calibration,
and the correlated-votes discount.

Only names the command line needs before any maths is loaded live here.
"""

#: The calibrators :func:`consensus.quality.calibration.fit_calibrator` knows.
CALIBRATORS = ("auto", "isotonic", "platt", "temperature")
