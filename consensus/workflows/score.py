"""Score annotators against gold, with a consensus fitted without that gold beside them."""

from __future__ import annotations

from ..data.gold import GoldSet
from ..data.votes import VoteMatrix
from ..models import DEFAULT_METHOD, make_model
from ..quality.scoring import DEFAULT_MIN_GOLD, ScoreReport, score_annotators


def score_with_consensus(
    votes: VoteMatrix,
    gold: GoldSet,
    *,
    method: str = DEFAULT_METHOD,
    min_gold: int = DEFAULT_MIN_GOLD,
    confidence: float = 0.95,
    max_iter: int = 100,
    tol: float = 1e-5,
    smoothing: float | None = None,
    ordinal: bool = False,
    nominal: tuple[str, ...] = (),
) -> ScoreReport:
    """:func:`~consensus.quality.scoring.score_annotators`, with the consensus scored too.

    The consensus is fitted *without* the gold, so its accuracy on gold means
    something (a clamped gold item is trivially right). ``ordinal`` adds mean
    absolute error and the share within one step (``nominal`` classes left out).
    """
    model = make_model(method, max_iter=max_iter, tol=tol, smoothing=smoothing).fit(votes)
    return score_annotators(
        votes, gold, consensus_labels=model.label_codes_, min_gold=min_gold, confidence=confidence,
        ordinal=ordinal, nominal=nominal,
    )
