"""Rebuild the bundled example golden sets from the full gold labels.

Run from the repository root: ``python golden_sets/build_examples.py``. The draw is
seeded, so the files it writes are the ones in the repository.

How the examples were made, and why:

- Items are drawn per class (stratified), so every class is covered; the rare
  weather class ``4`` is taken whole, because a golden set that samples classes in
  proportion would hold one or two items of it and could never measure recall there.
- ``difficulty`` is the share of the bundled crowd votes that agree with the gold
  label: ``easy`` (at least 0.8), ``medium`` (at least 0.5), ``hard`` (below 0.5).
  That is circular when the same crowd is then scored on it; it stands in for the
  judgement of the expert who writes a real golden set.
- ``note`` is given for the hard items only. The item texts are not bundled, so the
  note records the evidence (what most workers answered instead) rather than the
  reason the answer is right, which a real note should explain.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
EXAMPLES = HERE.parent / "examples" / "data"

#: (votes file, full gold file, output, items drawn per class; None takes the whole class)
SETS = [
    ("sentiment_votes.csv", "sentiment_gold_full.csv", "sentiment_gold.csv", {"0": 150, "1": 150}),
    (
        "weather_votes.csv",
        "weather_gold_full.csv",
        "weather_gold.csv",
        {"0": 35, "1": 35, "2": 35, "3": 35, "4": None},
    ),
]


def build(
    votes_name: str, full_name: str, per_class: dict[str, int | None], rng: np.random.Generator
) -> pd.DataFrame:
    votes = pd.read_csv(EXAMPLES / votes_name, dtype=str)
    gold = pd.read_csv(HERE / full_name, dtype=str)
    joined = votes.merge(gold, on="item", suffixes=("", "_gold"))
    joined["agrees"] = joined["label"] == joined["label_gold"]
    share = joined.groupby("item")["agrees"].agg(["sum", "size"])
    wrong = joined[~joined["agrees"]].groupby("item")["label"].agg(lambda s: s.mode().iat[0])

    picked = []
    for label, n in per_class.items():
        pool = gold.loc[gold["label"] == label, "item"].to_numpy()
        picked.append(pool if n is None else rng.choice(pool, size=n, replace=False))
    chosen = gold[gold["item"].isin(np.concatenate(picked))].copy()

    agree = share.loc[chosen["item"], "sum"].to_numpy()
    total = share.loc[chosen["item"], "size"].to_numpy()
    ratio = agree / total
    chosen["difficulty"] = np.where(ratio >= 0.8, "easy", np.where(ratio >= 0.5, "medium", "hard"))
    hard = ratio < 0.5
    chosen["note"] = ""
    chosen.loc[hard, "note"] = [
        f"Gold label {lab}: a commonly missed item; {a} of {t} crowd votes agreed, "
        f"most others said {wrong.get(item, '?')}."
        for item, lab, a, t in zip(
            chosen["item"][hard], chosen["label"][hard], agree[hard], total[hard], strict=True
        )
    ]
    return chosen[["item", "label", "note", "difficulty"]]


def main() -> None:
    rng = np.random.default_rng(20240607)
    for votes_name, full_name, out_name, per_class in SETS:
        frame = build(votes_name, full_name, per_class, rng)
        frame.to_csv(HERE / out_name, index=False, lineterminator="\n")
        print(f"{out_name}: {len(frame)} items, {frame['difficulty'].value_counts().to_dict()}")


if __name__ == "__main__":
    main()
