"""Golden sets: the bundled files, column aliases, and every rejected or repaired input."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import EXAMPLES, GOLDEN

from consensus import InputError, InputWarning, VoteMatrix
from consensus.data.gold import GoldSet, read_gold
from consensus.data.readers import read_votes


@pytest.fixture(scope="module")
def sentiment():
    return read_votes(EXAMPLES / "sentiment_votes.csv")


@pytest.fixture(scope="module")
def weather():
    return read_votes(EXAMPLES / "weather_votes.csv")


@pytest.fixture
def toy():
    rows = [("i1", "a", "cat"), ("i1", "b", "lynx"), ("i2", "a", "cat"), ("i3", "b", "lynx")]
    return VoteMatrix.from_frame(pd.DataFrame(rows, columns=["item", "annotator", "label"]))


def write(tmp_path, text, name="gold.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


# ------------------------------------------------------------- bundled sets
def test_bundled_sentiment_gold(sentiment):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gold = read_gold(GOLDEN / "sentiment_gold.csv", sentiment)
    assert gold.n_items == 300
    assert gold.class_counts().tolist() == [150, 150]
    assert set(gold.difficulty) == {"easy", "medium", "hard"}
    has_note = np.array([n is not None for n in gold.notes])
    assert 0 < has_note.sum() < gold.n_items
    assert (gold.difficulty[has_note] == "hard").all()
    lookup = gold.per_item(sentiment.n_items)
    assert lookup.dtype == np.int32 and (lookup >= 0).sum() == 300


def test_bundled_weather_gold_covers_the_rare_class(weather):
    gold = read_gold(GOLDEN / "weather_gold.csv", weather)
    assert gold.class_counts().tolist() == [35, 35, 35, 35, 9]


@pytest.mark.parametrize(
    "votes_name, gold_name, n",
    [
        ("sentiment_votes.csv", "sentiment_gold_full.csv", 1000),
        ("weather_votes.csv", "weather_gold_full.csv", 300),
    ],
)
def test_full_gold_copies_cover_every_item(votes_name, gold_name, n):
    votes = read_votes(EXAMPLES / votes_name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gold = read_gold(GOLDEN / gold_name, votes)
    assert gold.n_items == votes.n_items == n
    assert gold.notes is None and gold.difficulty is None


def test_subsets_agree_with_the_full_gold(sentiment):
    part = read_gold(GOLDEN / "sentiment_gold.csv", sentiment).per_item(sentiment.n_items)
    full = read_gold(GOLDEN / "sentiment_gold_full.csv", sentiment).per_item(sentiment.n_items)
    known = part >= 0
    assert (part[known] == full[known]).all()


def test_to_frame_round_trips(sentiment):
    gold = read_gold(GOLDEN / "sentiment_gold.csv", sentiment)
    again = GoldSet.from_frame(gold.to_frame(), sentiment)
    assert (again.item_codes == gold.item_codes).all()
    assert (again.label_codes == gold.label_codes).all()
    assert list(again.notes) == list(gold.notes)


# ----------------------------------------------------------- format details
@pytest.mark.parametrize(
    "header", ["item,label", "task,label", "task,true_label", "item,gold", "Item,Label"]
)
def test_column_aliases(tmp_path, toy, header):
    gold = read_gold(write(tmp_path, f"{header}\ni1,cat\ni3,lynx\n"), toy)
    assert gold.n_items == 2
    assert list(toy.classes[gold.label_codes]) == ["cat", "lynx"]


def test_notes_and_difficulty_are_optional_text(tmp_path, toy):
    path = write(tmp_path, "task,true_label,notes,difficulty\ni1,cat,ears,hard\ni2,cat,,\n")
    gold = read_gold(path, toy)
    assert list(gold.notes) == ["ears", None]
    assert list(gold.difficulty) == ["hard", None]


def test_ids_and_labels_match_as_stripped_text(toy):
    frame = pd.DataFrame({"item": [" i1 ", "i2"], "label": ["cat ", " cat"]})
    gold = GoldSet.from_frame(frame, toy)
    assert list(toy.item_ids[gold.item_codes]) == ["i1", "i2"]


def test_jsonl_gold(tmp_path, toy):
    path = write(
        tmp_path, '{"item": "i1", "label": "lynx"}\n{"item": "i3", "label": "lynx"}\n', "gold.jsonl"
    )
    assert read_gold(path, toy).class_counts().tolist() == [0, 2]


def test_from_codes_for_simulations(toy):
    gold = GoldSet.from_codes(toy, [2, 0, 0], [1, 0, 0])
    assert gold.per_item(toy.n_items).tolist() == [0, -1, 1]
    with pytest.raises(InputError, match="item code 0 is given two gold labels, 0 and 1"):
        GoldSet.from_codes(toy, [0, 0], [0, 1])
    with pytest.raises(InputError, match="label code 5 is outside 0..1"):
        GoldSet.from_codes(toy, [0], [5])


# ------------------------------------------------------------ errors
def test_conflicting_duplicate_names_item_labels_and_lines(tmp_path, toy):
    path = write(tmp_path, "item,label\ni1,cat\ni2,cat\ni1,lynx\n")
    with pytest.raises(InputError) as err:
        read_gold(path, toy)
    message = str(err.value)
    assert str(path) in message
    assert "item 'i1' is 'cat' at line 2 but 'lynx' at line 4" in message
    assert "fix the label or remove the item" in message


def test_identical_duplicates_warn_and_keep_one(tmp_path, toy):
    path = write(tmp_path, "item,label,note\ni1,cat,\ni1,cat,whiskers\ni2,cat,\n")
    with pytest.warns(
        InputWarning, match=r"1 repeated gold row\(s\) with the same label at line 3"
    ):
        gold = read_gold(path, toy)
    assert gold.n_items == 2
    assert gold.notes[0] == "whiskers"  # the first note given for the item is kept


def test_label_outside_the_vote_classes_is_named(tmp_path, toy):
    path = write(tmp_path, "item,label\ni1,cat\ni2,puma\ni3,puma\n")
    with pytest.raises(
        InputError, match=r"not among the votes' classes cat, lynx: 'puma' \(2 items\)"
    ):
        read_gold(path, toy)


def test_gold_items_no_one_voted_on_warn_with_count_and_drop(tmp_path, toy):
    path = write(tmp_path, "item,label\ni1,cat\nx9,cat\nx8,lynx\n")
    with pytest.warns(InputWarning, match=r"2 gold item\(s\) no one voted on were dropped"):
        gold = read_gold(path, toy)
    assert gold.n_items == 1


def test_gold_sharing_no_item_with_votes_is_an_error(tmp_path, toy):
    path = write(tmp_path, "item,label\nx1,cat\nx2,cat\n")
    with pytest.raises(InputError, match="none of the 2 gold items appears in the votes"):
        read_gold(path, toy)


def test_empty_label_cell_names_the_line(tmp_path, toy):
    path = write(tmp_path, "item,label\ni1,cat\ni2,\n")
    with pytest.raises(InputError, match=r"1 gold row\(s\) with an empty label at line 3"):
        read_gold(path, toy)


def test_missing_label_column_lists_the_columns(tmp_path, toy):
    path = write(tmp_path, "item,annotator\ni1,a\n")
    with pytest.raises(InputError, match=r"no label column .* columns found: item, annotator"):
        read_gold(path, toy)


def test_header_only_file(tmp_path, toy):
    with pytest.raises(InputError, match="no gold items"):
        read_gold(write(tmp_path, "item,label\n"), toy)


def test_lookup_too_short_and_wrong_vote_table(toy, sentiment):
    gold = GoldSet.from_codes(toy, [2], [1])
    with pytest.raises(InputError, match="does not fit in 2 items"):
        gold.per_item(2)
    with pytest.raises(InputError, match="matched to a different vote table"):
        gold.check_matches(sentiment)


# ------------------------------------------------------------ the README
def readme_rows(first_cell: str) -> list[list[str]]:
    """Table rows of golden_sets/README.md whose header's first cell is ``first_cell``."""
    rows, inside = [], False
    for line in (GOLDEN / "README.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0] == first_cell:
            inside = True
        elif inside and line.startswith("|") and not set(cells[0]) <= {"-"}:
            rows.append(cells)
        elif inside and not line.startswith("|"):
            break
    return rows


def test_readme_precision_table_is_computed():
    from consensus.quality.scoring import wilson_interval

    rows = readme_rows("n")
    assert [int(r[0]) for r in rows] == [10, 25, 50, 100, 200, 400, 1000]
    for row in rows:
        n = int(row[0])
        for accuracy, interval, half in ((0.9, row[1], row[2]), (0.7, row[3], row[4])):
            low, high = wilson_interval(accuracy * n, n)
            assert interval == f"{low:.3f} – {high:.3f}", (n, accuracy)
            assert half == f"{(high - low) / 2:.3f}", (n, accuracy)


def test_readme_expected_length_column_is_computed():
    from consensus.quality.vetting import Sprt

    test = Sprt.for_threshold(0.9, 0.1, alpha=0.05, beta=0.1)
    rows = readme_rows("true accuracy")
    assert len(rows) == 7
    for row in rows:
        assert row[1] == f"{float(test.expected_length(0.0, float(row[0]))):.0f}", row
