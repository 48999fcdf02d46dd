"""Exact command-line output, pinned whole.

The summaries, the error lines and the items file of ``consensus`` as they are
after the restructuring into packages (each checked identical to commit e0bac0f,
apart from the intended rewording of messages that name flags). Every text is
compared in full, not by substring, so any change of wording, rounding, order or
spacing shows up here. Figures printed to 3 decimals are stable: no tolerances.

Under CliRunner neither stream is a terminal, so no progress line is printed and
`consensus calibration` leaves out its text reliability diagram.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from conftest import EXAMPLES, GOLDEN

from consensus.cli import cli

VOTES = EXAMPLES / "sentiment_votes.csv"
GOLD = GOLDEN / "sentiment_gold.csv"

#: SHA-256 of the items CSV of `consensus aggregate VOTES -o labels.csv` (no gold).
ITEMS_CSV_SHA256 = "115eeec53742455cce038ded0e5f7dde686693739e0650e38a220fa5493f8cee"


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


# Expected stdout. Lines of the calibration table end in spaces, written \x20 here.

AGGREGATE = """\
1,000 items, 83 annotators, 5,000 votes, 2 classes
method auto → pooled: 11 iterations, converged
auto kept pooled: no other candidate describes held-out items' votes clearly better (by 0.005 per vote and z >= 2) (ebcc: -0.0007 per vote, z = -0.9)
class priors: 0 0.698, 1 0.302
mean confidence 0.955; 138 items below 0.9; 0 ties
confidence is model-based (each item left out of its annotators' confusion estimates), discounted for correlated votes (intra-item correlation 0.038: 5 votes weigh as 4.3 independent ones), and not calibrated: no gold was given
least reliable annotators (with ≥10 votes where possible):
  A2H3M1JVY991Q3  accuracy 0.674 [0.612, 0.732]  233 votes
  A17G2QHR8AH5VV  accuracy 0.703 [0.618, 0.779]  122 votes
  AADB14P6ZCSOC   accuracy 0.718 [0.596, 0.820]  60 votes
  A39LJRF4LGAIX5  accuracy 0.729 [0.624, 0.817]  80 votes
  A1E3MS4AD1WM8V  accuracy 0.734 [0.524, 0.885]  21 votes
"""  # noqa: E501


AGGREGATE_GOLD = """\
1,000 items, 83 annotators, 5,000 votes, 2 classes
method auto → pooled: 11 iterations, converged
auto kept pooled: no other candidate describes held-out items' votes clearly better (by 0.005 per vote and z >= 2) (ebcc: -0.0007 per vote, z = -0.9); nor does gold (cross-validated accuracy pooled 70.7%, ebcc 71.3%, mv 69.3%)
class priors: 0 0.571, 1 0.429
mean confidence 0.794; 587 items below 0.9; 0 ties
your consensus labels are about 70.7% ± 5.1% correct (5-fold cross-validation over 300 gold items; 95% interval 65.3%–75.5%)
calibration error on held-out gold 0.229 → 0.045 (isotonic regression of the confidence)
confidence is calibrated on gold (isotonic regression of the confidence)
least reliable annotators (with ≥10 votes where possible):
  A17G2QHR8AH5VV  accuracy 0.585 [0.496, 0.670]  122 votes
  A3TSHG5R492EHU  accuracy 0.648 [0.615, 0.679]  846 votes
  A3R5A5DNW8WUZQ  accuracy 0.669 [0.378, 0.883]  11 votes
  AF3G0V1QQAU80   accuracy 0.693 [0.596, 0.778]  96 votes
  A2H3M1JVY991Q3  accuracy 0.699 [0.638, 0.755]  233 votes
"""  # noqa: E501


SCORE = """\
83 annotators against 300 gold items (95% Wilson intervals).
Ranked, worst first by the upper end of the interval: 28 with at least 10 gold answers. Not ranked: 40 with fewer, 15 with none.
annotator       n_gold  correct  accuracy  ci_low  ci_high   kappa  worst_pair   status
A3TSHG5R492EHU     252      141     0.560   0.498    0.619   0.101  1 → 0 (108)  ranked
A1YW00TFC187CC      66       39     0.591   0.470    0.701   0.168  1 → 0 (22)   ranked
A17G2QHR8AH5VV      47       27     0.574   0.433    0.705  -0.042  1 → 0 (19)   ranked
ARX0S1CIDJLOX       34       19     0.559   0.395    0.711   0.153  1 → 0 (14)   ranked
A2NBP5OTOYX3WK      56       35     0.625   0.494    0.740   0.313  1 → 0 (19)   ranked
A3CFNUD7VR2E1E      58       37     0.638   0.509    0.749   0.329  1 → 0 (19)   ranked
A3SWVCOJPJM7KQ      22       13     0.591   0.387    0.767  -0.021  1 → 0 (7)    ranked
A1SCNO7L71ITFY     198      141     0.712   0.645    0.771   0.441  1 → 0 (51)   ranked
AF3G0V1QQAU80       29       18     0.621   0.440    0.773   0.270  1 → 0 (9)    ranked
A1OI81FMMZ26J7      33       21     0.636   0.466    0.778   0.312  1 → 0 (12)   ranked
A2F0NZQ8F9ON8C      23       14     0.609   0.408    0.778   0.230  1 → 0 (7)    ranked
A37TAQZGFFIPF6      35       23     0.657   0.492    0.792   0.354  1 → 0 (11)   ranked
A2QNS7MODF0A2N      83       60     0.723   0.618    0.808   0.403  1 → 0 (20)   ranked
A9K49S97N9S9Y       19       12     0.632   0.410    0.809   0.204  1 → 0 (5)    ranked
A2H3M1JVY991Q3      67       49     0.731   0.615    0.823   0.464  1 → 0 (12)   ranked
A1C8QK1FPEOOZN      19       13     0.684   0.460    0.846   0.230  1 → 0 (5)    ranked
A29PMRCRJ7Q9ZD      95       74     0.779   0.686    0.851   0.544  1 → 0 (14)   ranked
A39LJRF4LGAIX5      21       15     0.714   0.500    0.862   0.417  1 → 0 (5)    ranked
A14PY6OO6SQ3K0      12        8     0.667   0.391    0.862   0.250  0 → 1 (2)    ranked
A3QTDW5WP4GFKV      32       24     0.750   0.579    0.867   0.482  1 → 0 (8)    ranked
A3OZ8KF0HWSVWK      29       22     0.759   0.579    0.878   0.508  1 → 0 (7)    ranked
A25JF6K0WTD7RD      15       11     0.733   0.480    0.891   0.483  1 → 0 (4)    ranked
AADB14P6ZCSOC       16       12     0.750   0.505    0.898   0.467  0 → 1 (2)    ranked
A2460QZM5TZC4V      31       25     0.806   0.637    0.908   0.616  1 → 0 (5)    ranked
A3P08N6X9HDJ2V      13       10     0.769   0.497    0.918   0.530  1 → 0 (2)    ranked
... 58 more (all in .annotators)
Consensus on gold: accuracy 0.710 [0.656, 0.758] (213/300, 95% Wilson), kappa 0.420
class  gold  predicted  correct  precision  recall
0       150        217      140      0.645   0.933
1       150         83       73      0.880   0.487
"""  # noqa: E501


VET = """\
83 candidates on 300 gold items: 1 pass, 4 fail, 78 undecided.
Sequential test: accuracy >= 0.75 passes, <= 0.65 fails; wrongly passing <= 0.05, wrongly failing <= 0.1.
annotator       decision   n_gold  correct  accuracy  ci_low  ci_high  more_items_needed  weak_classes
ARX0S1CIDJLOX   fail           34       19     0.559   0.395    0.711                  0  1 4/18
A3TSHG5R492EHU  fail          252      141     0.560   0.498    0.619                  0  1 15/123
A17G2QHR8AH5VV  fail           47       27     0.574   0.433    0.705                  0  1 0/19
A1YW00TFC187CC  fail           66       39     0.591   0.470    0.701                  0  1 10/32
A2D2UXKO4AWBO8  undecided       1        0     0.000   0.000    0.793                 18  1 0/1
A1NQT28GZTFLGA  undecided       1        0     0.000   0.000    0.793                 18  1 0/1
A36N8WJKIGNKT0  undecided       1        0     0.000   0.000    0.793                 18  0 0/1
A3MXBLYX2CDGTP  undecided       1        0     0.000   0.000    0.793                 18  1 0/1
A37NNI7YFHQU0E  undecided       1        0     0.000   0.000    0.793                 18  1 0/1
A1N914XTP4CJ7X  undecided       1        0     0.000   0.000    0.793                 18  0 0/1
A3O81LHBBI8NPK  undecided       3        1     0.333   0.061    0.792                 17  1 1/3
A2AM9D21A7KEZF  undecided       3        1     0.333   0.061    0.792                 17  1 1/3
A2NDGTBR25ADTU  undecided       6        3     0.500   0.188    0.812                 24  1 2/5
A1D67BJW63N47G  undecided       2        1     0.500   0.095    0.905                 44  1 0/1
A3R5A5DNW8WUZQ  undecided       2        1     0.500   0.095    0.905                 44  1 0/1
A1264GOK2Z3WSE  undecided       9        5     0.556   0.267    0.811                 30  1 1/5
AQ3M9XJK8WOII   undecided       9        5     0.556   0.267    0.811                 30  0 3/5, 1 2/4
A3SWVCOJPJM7KQ  undecided      22       13     0.591   0.387    0.767                 24  1 1/8
A1TTA3N401CZTS  undecided       5        3     0.600   0.231    0.882                 58  1 0/2
AJWKHL2B85PZ9   undecided       5        3     0.600   0.231    0.882                 58  1 1/3
A2F0NZQ8F9ON8C  undecided      23       14     0.609   0.408    0.778                 31  1 5/12
AF3G0V1QQAU80   undecided      29       18     0.621   0.440    0.773                 33  1 7/16
A2NBP5OTOYX3WK  undecided      56       35     0.625   0.494    0.740                  7  1 18/37
A9K49S97N9S9Y   undecided      19       12     0.632   0.410    0.809                 53  1 3/8
A1OI81FMMZ26J7  undecided      33       21     0.636   0.466    0.778                 42  1 6/18
A3CFNUD7VR2E1E  undecided      58       37     0.638   0.509    0.749                 18  1 16/35
A37TAQZGFFIPF6  undecided      35       23     0.657   0.492    0.792                 69  1 9/20
A3KUOOJQ1Y4QC0  undecided       3        2     0.667   0.208    0.939                121
A14PY6OO6SQ3K0  undecided      12        8     0.667   0.391    0.862                105  1 2/4
A1C8QK1FPEOOZN  undecided      19       13     0.684   0.460    0.846                126  1 2/7
A1SCNO7L71ITFY  undecided     198      141     0.712   0.645    0.771                129  1 56/107
A39LJRF4LGAIX5  undecided      21       15     0.714   0.500    0.862                144  1 5/10
A296F95XZ8N4S6  undecided       7        5     0.714   0.359    0.918                145  1 1/3
A32JS1R9V5LB78  undecided       7        5     0.714   0.359    0.918                145  1 1/2
A2QNS7MODF0A2N  undecided      83       60     0.723   0.618    0.808                122  1 16/36
A2H3M1JVY991Q3  undecided      67       49     0.731   0.615    0.823                107
A25JF6K0WTD7RD  undecided      15       11     0.733   0.480    0.891                129  1 4/8
AADB14P6ZCSOC   undecided      16       12     0.750   0.505    0.898                106
A3QTDW5WP4GFKV  undecided      32       24     0.750   0.579    0.867                 91  1 7/15
A1E3MS4AD1WM8V  undecided       4        3     0.750   0.301    0.954                127
A52AHJEUWFSA2   undecided       4        3     0.750   0.301    0.954                127
A3OZ8KF0HWSVWK  undecided      29       22     0.759   0.579    0.878                 81  1 7/14
A3P08N6X9HDJ2V  undecided      13       10     0.769   0.497    0.918                 86
A2N2KQXUPLNDWI  undecided       9        7     0.778   0.453    0.937                 84  1 1/3
A3U5GS55UEF5C8  undecided       9        7     0.778   0.453    0.937                 84  0 3/5
A3D8YDQP3CFFT   undecided       5        4     0.800   0.376    0.964                 79  1 1/2
AB5C1BRQTC19Q   undecided       5        4     0.800   0.376    0.964                 79
A3U1K9X1LXA5JA  undecided      15       12     0.800   0.548    0.930                 55
A2460QZM5TZC4V  undecided      31       25     0.806   0.637    0.908                 31
A3HQX4BG2WZFTU  undecided       6        5     0.833   0.436    0.970                 56
... 33 more (all in .candidates)
"""  # noqa: E501


AGREEMENT = """\
Agreement over 1000 items, 83 annotators, 5000 votes (95% CI: percentile bootstrap over items, 1000 draws)
statistic                    estimate  95% CI            items
Percent agreement               0.760  [0.744, 0.775]     1000
Fleiss' kappa                   0.406  [0.372, 0.439]     1000
Krippendorff's alpha            0.406  [0.372, 0.439]     1000
Mean pairwise Cohen's kappa     0.406  [0.357, 0.430]     1000
Gwet's AC1                      0.597  [0.563, 0.630]     1000
notes:
  Mean pairwise Cohen's kappa: mean over 206 annotator pairs sharing >= 10 items (median 19); left out 1 pair that used one class only (0/0)
per annotator: agreement with the others median 0.792 (quartiles 0.726, 0.842) over 83 annotators
"""  # noqa: E501


CALIBRATION = """\
calibration on 300 held-out gold items (5-fold):
  expected calibration error 0.229 before, 0.045 after isotonic regression of the confidence, fitted out of fold
  Brier score 0.483 before, 0.369 after
  confidence bin   items  mean conf  accuracy   |  after: items  mean conf  accuracy
  0.0–0.1           0     -          -     |             0     -          -\x20\x20
  0.1–0.2           0     -          -     |             0     -          -\x20\x20
  0.2–0.3           0     -          -     |             0     -          -\x20\x20
  0.3–0.4           0     -          -     |             0     -          -\x20\x20
  0.4–0.5           0     -          -     |             0     -          -\x20\x20
  0.5–0.6           9   0.555      0.333   |            80   0.511      0.450
  0.6–0.7          11   0.633      0.455   |            13   0.620      0.923
  0.7–0.8          18   0.766      0.444   |           128   0.751      0.734
  0.8–0.9          23   0.851      0.565   |            26   0.830      0.769
  0.9–1.0         239   0.985      0.766   |            53   0.962      0.943
without gold, `consensus aggregate` reports confidence with calibration error 0.266 on these items (the model's own posteriors: 0.267)
"""  # noqa: E501


@pytest.fixture(scope="module")
def aggregated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Result, Path]:
    """`consensus aggregate` without gold, run once for the summary and the items file."""
    items = tmp_path_factory.mktemp("aggregate") / "labels.csv"
    return run("aggregate", VOTES, "-o", items), items


def test_aggregate_summary(aggregated):
    result, _ = aggregated
    assert result.exit_code == 0
    assert result.stdout == AGGREGATE
    assert result.stderr == ""


def test_aggregate_items_csv_bytes(aggregated):
    _, items = aggregated
    assert hashlib.sha256(items.read_bytes()).hexdigest() == ITEMS_CSV_SHA256


def test_aggregate_summary_with_gold(tmp_path):
    result = run("aggregate", VOTES, "-o", tmp_path / "labels.csv", "--gold", GOLD)
    assert result.exit_code == 0
    assert result.stdout == AGGREGATE_GOLD
    assert result.stderr == ""


def test_score_summary(tmp_path):
    result = run("score", VOTES, "--gold", GOLD, "-o", tmp_path / "scores.csv")
    assert result.exit_code == 0
    assert result.stdout == SCORE
    assert result.stderr == ""


def test_vet_summary_and_exit_status(tmp_path):
    result = run("vet", VOTES, "--gold", GOLD, "--min-accuracy", "0.75",
                 "-o", tmp_path / "decisions.csv")
    assert result.exit_code == 1  # at least one candidate failed
    assert result.stdout == VET
    assert result.stderr == ""


def test_agreement_summary():
    result = run("agreement", VOTES)
    assert result.exit_code == 0
    assert result.stdout == AGREEMENT
    assert result.stderr == ""


def test_calibration_summary(tmp_path):
    result = run("calibration", VOTES, "--gold", GOLD, "-o", tmp_path / "rel.csv")
    assert result.exit_code == 0
    assert result.stdout == CALIBRATION
    assert result.stderr == ""


HEADER = "item,annotator,label\n"


@pytest.mark.parametrize(
    ("command", "votes", "options", "expected"),
    [
        pytest.param("aggregate", None, [], "error: {path}: no such file\n", id="missing-file"),
        pytest.param(
            "aggregate", HEADER + "1,a,yes\n1,,no\n2,b,yes\n2,a,no\n", [],
            "error: {path}: 1 vote(s) with an empty annotator at line 3; "
            "fix them or drop them with --on-missing drop\n",
            id="empty-annotator",
        ),
        pytest.param(
            "agreement", HEADER + "1,a,yes\n1,b,yes\n2,a,yes\n2,b,yes\n", [],
            "error: {path}: only one label ('yes') appears; consensus needs at least two "
            "classes. Declare the full label set with --labels A,B,...\n",
            id="one-label",
        ),
        pytest.param(
            "aggregate", HEADER + "1,a,yes\n1,b,no\n1,a,no\n2,a,yes\n2,b,yes\n",
            ["--duplicates", "error"],
            "error: {path}: 1 repeated (item, annotator) vote(s), first at line 4; "
            "choose --duplicates keep, first or last\n",
            id="repeated-votes",
        ),
        pytest.param(
            "aggregate", HEADER + "1,a,yes\n1,b,no\n2,a,maybe\n2,b,yes\n",
            ["--labels", "yes,no"],
            "error: {path}: label(s) not in the declared set yes, no: 'maybe' (1 votes); "
            "add them to --labels A,B,... or fix the votes\n",
            id="unknown-label",
        ),
    ],
)
def test_bad_input_is_one_error_line(tmp_path, command, votes, options, expected):
    path = tmp_path / "votes.csv"
    if votes is not None:
        path.write_text(votes)
    output = tmp_path / "labels.csv"
    args = [command, path, *(["-o", output] if command == "aggregate" else []), *options]
    result = run(*args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == expected.format(path=path)
    assert not output.exists()
