"""Does ``auto`` keep pooled DS on crowds whose annotators err independently?

``auto`` replaces pooled DS by EBCC only when EBCC makes held-out items' votes more
probable by z >= 2 *and* 0.005 nats per vote. On crowds simulated with independent
annotators (the model pooled DS assumes) EBCC should never be chosen: this prints,
for a grid of 24 such crowds (2, 4, 6 classes; 20 or 300 annotators; 3 or 5 votes per
item; accurate Beta(8, 2) or mixed Beta(3, 1) annotators; every other crowd with 10%
spammers), EBCC's held-out gain over pooled, its z, what auto chose, and both
models' accuracy against the truth.

Usage::

    python benchmarks/auto_choice.py [--items 2000] [-o FILE]
"""

from __future__ import annotations

import argparse
import itertools
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Measure the consensus in this working tree, not an installed copy that may be older.
sys.path.insert(0, str(ROOT))

from _common import emit, machine, markdown_table  # noqa: E402

from consensus.models import EBCC, AutoAggregator, PooledDawidSkene  # noqa: E402
from consensus.simulate import simulate  # noqa: E402

GRID = list(itertools.product((2, 4, 6), (20, 300), (3, 5), ((8.0, 2.0), (3.0, 1.0))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("-o", "--output", default=None, help="also write the table here")
    args = parser.parse_args()
    rows, gains = [], []
    warnings.simplefilter("ignore")
    for i, (k, a, per_item, accuracy) in enumerate(GRID):
        sim = simulate(args.items, a, n_classes=k, votes_per_item=per_item, accuracy=accuracy,
                       activity=1.0, spammer_share=0.1 if i % 2 else 0.0, seed=i)
        auto = AutoAggregator().fit(sim.votes)
        ebcc = auto.selection_.set_index("method").loc["ebcc"]
        pooled = (PooledDawidSkene().fit(sim.votes).label_codes_ == sim.truth).mean()
        other = (EBCC().fit(sim.votes).label_codes_ == sim.truth).mean()
        gains.append(ebcc.gain_per_vote)
        rows.append([k, a, per_item, f"Beta{accuracy}", "10%" if i % 2 else "0%", auto.chosen_,
                     f"{ebcc.gain_per_vote:+.4f}", f"{ebcc.z:.1f}", f"{100 * pooled:.2f}",
                     f"{100 * other:.2f}"])
        print(*rows[-1], file=sys.stderr, flush=True)
    chose = sum(r[5] != "pooled" for r in rows)
    text = "\n\n".join([
        f"## Auto on {len(GRID)} crowds of independent annotators ({args.items:,} items each)",
        markdown_table(["K", "annotators", "votes/item", "accuracy", "spammers", "auto chose",
                        "EBCC gain/vote", "z", "pooled %", "EBCC %"], rows),
        f"Auto chose something other than pooled on {chose} of {len(GRID)} crowds; EBCC's "
        f"largest held-out gain {max(gains):+.4f} per vote (the rule asks for 0.005).",
        f"Machine: {machine()}",
    ])
    emit(text, rows, args.output, None)


if __name__ == "__main__":
    main()
