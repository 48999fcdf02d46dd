"""The crowd-kit side of end_to_end.py: CSV in, DawidSkene with defaults, CSV out.

What a user of crowd-kit would write: read the votes with pandas, rename the
columns to crowd-kit's, fit DawidSkene() (n_iter=100, tol=1e-5) and write one
label per item.

Usage::

    python benchmarks/crowdkit_aggregate.py VOTES.csv OUT.csv
"""

from __future__ import annotations

import sys
import warnings

import pandas as pd
from crowdkit.aggregation import DawidSkene


def main(votes: str, out: str) -> None:
    frame = pd.read_csv(votes).rename(columns={"item": "task", "annotator": "worker"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        labels = DawidSkene().fit_predict(frame)
    labels.rename("label").rename_axis("item").reset_index().to_csv(out, index=False)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    main(sys.argv[1], sys.argv[2])
