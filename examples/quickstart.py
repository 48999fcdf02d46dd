"""A five-minute tour of the Python API on the bundled sentiment data.

Run from the repository root:  python examples/quickstart.py
"""

from pathlib import Path

from consensus import (
    MajorityVote,
    PooledDawidSkene,
    aggregate,
    agreement_report,
    read_gold,
    read_votes,
    score_annotators,
)

HERE = Path(__file__).resolve().parent
votes = read_votes(HERE / "data" / "sentiment_votes.csv")
print(votes)

# 1. Aggregate: pooled Dawid-Skene (the default) beside majority vote, one interface.
ds = PooledDawidSkene().fit(votes)
mv = MajorityVote().fit(votes)
changed = (ds.labels_ != mv.labels_).sum()
print(f"Pooled Dawid-Skene changes {changed} of {votes.n_items} majority-vote labels; "
      f"{int(mv.ties_.sum())} majority votes were ties")
priors = {c: round(float(p), 3) for c, p in zip(votes.classes, ds.class_priors_, strict=True)}
print("class priors:", priors)
# Without gold, aggregate() reports an honest-er confidence than the raw posterior.
plain = aggregate(votes)
print(f"mean confidence {ds.posteriors_.max(axis=1).mean():.3f} raw, "
      f"{plain.posteriors.max(axis=1).mean():.3f} reported: {plain.to_dict()['confidence_note']}")

# 2. Gold: anchor the model, estimate its accuracy, calibrate its confidence.
gold = read_gold(HERE.parent / "golden_sets" / "sentiment_gold.csv", votes)
result = aggregate(votes, gold=gold)
print(result.summary())
print(result.items.head(3).to_string(index=False))

# 3. Whom to trust: annotators scored on gold, worst first.
scores = score_annotators(votes, gold, consensus_labels=ds.label_codes_)
print(scores.annotators[["annotator", "n_gold", "accuracy", "ci_low", "ci_high", "kappa"]]
      .head(5).to_string(index=False))

# 4. Agreement with bootstrap intervals.
print(agreement_report(votes, n_bootstrap=200).summary())
