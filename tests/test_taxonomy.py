"""Taxonomy versions: the file, votes read through it, the model, the relabel list, the CLI."""

from __future__ import annotations

import json
import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from consensus.cli.taxonomy import taxonomy as taxonomy_group
from consensus.data.taxonomy import (
    VERSION_FIELD,
    map_votes,
    read_taxonomy,
    read_versioned_votes,
    resolve,
    taxonomy_from_dict,
    vote_versions,
)
from consensus.data.votes import VoteMatrix
from consensus.exceptions import InputError
from consensus.models import PooledDawidSkene
from consensus.models.taxonomy import (
    TaxonomyDawidSkene,
    coarse_confusion,
    fine_statistics,
    latest_gold_codes,
)
from consensus.workflows.taxonomy import aggregate_taxonomy, check_taxonomy, resolution_line

SPLIT = {"versions": [
    {"name": "v1", "labels": ["car", "person", "bike"]},
    {"name": "v2", "labels": ["sedan", "suv", "person", "bike"],
     "split": {"car": ["sedan", "suv"]}},
]}
SPLIT_TOML = """
[[versions]]
name = "v1"
labels = ["car", "person", "bike"]

[[versions]]
name = "v2"
labels = ["sedan", "suv", "person", "bike"]
split = { car = ["sedan", "suv"] }
"""
THREE = {"versions": [
    {"name": "v1", "labels": ["car", "person", "bike", "cat", "lynx"]},
    {"name": "v2", "labels": ["sedan", "suv", "person", "bike", "cat", "lynx"],
     "split": {"car": ["sedan", "suv"]}},
    {"name": "v3", "labels": ["sedan", "suv", "person", "bicycle", "feline"],
     "merge": {"feline": ["cat", "lynx"]}, "rename": {"bike": "bicycle"}},
]}


def votes_with_versions(rows: list[tuple[str, str, str, str]],
                        labels: list[str] | None = None) -> VoteMatrix:
    """Votes from (item, annotator, label, version) rows."""
    frame = pd.DataFrame(rows, columns=["item", "annotator", "label", VERSION_FIELD])
    votes = VoteMatrix.from_frame(frame[["item", "annotator", "label"]], labels=labels)
    return VoteMatrix(votes.item_codes, votes.annotator_codes, votes.label_codes,
                      votes.item_ids, votes.annotator_ids, votes.classes,
                      {VERSION_FIELD: frame[VERSION_FIELD].to_numpy(dtype=object)})


def simulated(seed: int = 0, n_items: int = 600, n_annotators: int = 30) -> VoteMatrix:
    """Three votes per item; items early in the project are voted under v1 (split later)."""
    rng = np.random.default_rng(seed)
    fine = np.array(["sedan", "suv", "person", "bike"])
    truth = rng.choice(4, n_items, p=[0.3, 0.2, 0.3, 0.2])
    rows = []
    for i in range(n_items):
        early = rng.uniform() < 0.5
        for a in rng.choice(n_annotators, 3, replace=False):
            answer = truth[i] if rng.uniform() < 0.8 else rng.integers(4)
            version = "v1" if early and rng.uniform() < 0.9 else "v2"
            label = "car" if version == "v1" and answer < 2 else fine[answer]
            rows.append((f"i{i}", f"a{a}", str(label), version))
    return votes_with_versions(rows)


# ---------------------------------------------------------------- the file
def test_json_and_toml_read_the_same_taxonomy(tmp_path):
    (tmp_path / "t.json").write_text(json.dumps(SPLIT))
    (tmp_path / "t.toml").write_text(SPLIT_TOML)
    a, b = read_taxonomy(tmp_path / "t.json"), read_taxonomy(tmp_path / "t.toml")
    assert a.names == b.names == ("v1", "v2")
    assert a.coverage == b.coverage
    assert a.covers("v1", "car") == ("sedan", "suv")
    assert a.describe() == ["v1 → v2: split car → sedan, suv"]


def test_splits_merges_and_renames_compose_across_versions():
    taxonomy = taxonomy_from_dict(THREE)
    assert taxonomy.covers("v1", "car") == ("sedan", "suv")
    assert taxonomy.covers("v1", "cat") == ("feline",)
    assert taxonomy.covers("v2", "lynx") == ("feline",)
    assert taxonomy.covers("v1", "bike") == ("bicycle",)
    assert taxonomy.covers("v3", "sedan") == ("sedan",)
    same = taxonomy.indistinguishable
    assert same[0, 0, 1] and same[0, 1, 0]  # v1 cannot tell sedan from suv
    assert not same[1].any() and not same[2].any()


def test_a_split_label_can_keep_its_name_and_labels_can_be_added():
    taxonomy = taxonomy_from_dict({"versions": [
        {"name": "a", "labels": ["car", "person"]},
        {"name": "b", "labels": ["car", "suv", "person", "truck"],
         "split": {"car": ["car", "suv"]}, "add": ["truck"]}]})
    assert taxonomy.covers("a", "car") == ("car", "suv")
    assert taxonomy.covers("b", "car") == ("car",)
    assert "add truck" in taxonomy.describe()[0]


@pytest.mark.parametrize("second, message", [
    ({"labels": ["sedan", "suv", "person", "bike"], "split": {"van": ["sedan", "suv"]}},
     "split of 'van', which v1 does not have"),
    ({"labels": ["sedan", "person", "bike"], "split": {"car": ["sedan", "suv"]}},
     "gives 'suv', which is not one of its labels"),
    ({"labels": ["person", "bike", "truck"]},
     "'car' of v1 is not one of its labels and no split, merge or rename"),
    ({"labels": ["car", "person", "bike", "truck"]}, "'truck' comes from no label of v1"),
    ({"labels": ["person", "bike"], "rename": {"car": "person"}},
     "already has and keeps; to join them, merge them"),
    ({"labels": ["car", "person", "bike"], "rename": {"car": "car"}}, "must give another label"),
    ({"labels": ["sedan", "suv", "person", "bike"], "splits": {"car": ["sedan", "suv"]}},
     "unknown key(s) splits"),
    ({"labels": ["sedan", "suv", "person", "bike"], "split": {"car": ["sedan"]}},
     "needs at least 2 labels"),
    ({"labels": ["vehicle", "person", "bike"], "rename": {"car": "vehicle"},
      "merge": {"vehicle": ["car", "bike"]}}, "'car' is in merge and in rename"),
])
def test_a_bad_version_is_an_error_naming_the_file_and_version(second, message):
    data = {"versions": [SPLIT["versions"][0], {"name": "v2", **second}]}
    with pytest.raises(InputError) as caught:
        taxonomy_from_dict(data, "t.json")
    assert str(caught.value).startswith("t.json: version")
    assert message in str(caught.value)


def test_whole_file_errors_name_the_file(tmp_path):
    repeated = {"versions": [SPLIT["versions"][0], {**SPLIT["versions"][0]}]}
    with pytest.raises(InputError, match="version 'v1' appears twice"):
        taxonomy_from_dict(repeated, "t.json")
    first = {"versions": [{**SPLIT["versions"][0], "split": {"car": ["a", "b"]}}]}
    with pytest.raises(InputError, match="the first version has no previous version"):
        taxonomy_from_dict(first)
    with pytest.raises(InputError, match=r'expected \{"versions"'):
        taxonomy_from_dict([1, 2])
    late = {"versions": [{**SPLIT["versions"][0], "start": "2024-05-01"},
                         {**SPLIT["versions"][1], "start": "2024-04-01"}]}
    with pytest.raises(InputError, match="starts .* no later than 'v1'"):
        taxonomy_from_dict(late)
    (tmp_path / "t.json").write_text("{oops")
    with pytest.raises(InputError, match=r"t.json: not valid JSON"):
        read_taxonomy(tmp_path / "t.json")
    (tmp_path / "t.yaml").write_text("versions: []")
    with pytest.raises(InputError, match="use .json or .toml"):
        read_taxonomy(tmp_path / "t.yaml")


# --------------------------------------------------------------- the votes
def test_votes_map_to_given_labels_and_a_label_outside_its_version_is_named():
    taxonomy = taxonomy_from_dict(THREE)
    votes = votes_with_versions([("1", "a", "car", "v1"), ("1", "b", "sedan", "v2"),
                                 ("2", "a", "cat", "v1"), ("2", "b", "feline", "v3"),
                                 ("3", "a", "bike", "v2")])
    versioned = map_votes(votes, taxonomy)
    assert list(versioned.votes.classes) == ["sedan", "suv", "person", "bicycle", "feline",
                                             "car@v1"]
    labels = versioned.votes.classes[versioned.votes.label_codes]
    assert list(labels) == ["car@v1", "sedan", "feline", "feline", "bicycle"]
    assert list(versioned.exact) == [False, True, True, True, True]
    assert versioned.membership[:, 5].tolist() == [1, 1, 0, 0, 0]
    wrong = votes_with_versions([("1", "a", "car", "v1"), ("1", "b", "car", "v2"),
                                 ("2", "a", "cat", "v9")])
    with pytest.raises(InputError, match="version.*'v9'"):
        map_votes(wrong, taxonomy, "votes.csv")
    wrong = votes_with_versions([("1", "a", "car", "v1"), ("1", "b", "car", "v3"),
                                 ("2", "a", "person", "v3")])
    with pytest.raises(InputError) as caught:
        map_votes(wrong, taxonomy, "votes.csv")
    assert "'car' under v3 (1 vote, e.g. item 1 by annotator b" in str(caught.value)


def test_versions_from_vote_times_and_the_versions_start_times():
    data = json.loads(json.dumps(SPLIT))
    data["versions"][1]["start"] = "2024-07-01T00:00:00Z"
    taxonomy = taxonomy_from_dict(data)
    frame = pd.DataFrame({"item": ["1", "1", "2"], "annotator": ["a", "b", "a"],
                          "label": ["car", "sedan", "person"],
                          "created_at": ["2024-03-01T10:00:00", "2024-07-01T00:00:00+00:00",
                                         "2024-06-30T23:59:59Z"]})
    votes = VoteMatrix.from_frame(frame)
    assert vote_versions(votes, taxonomy).tolist() == [0, 1, 0]
    frame.loc[0, "created_at"] = "yesterday"
    with pytest.raises(InputError, match="not ISO 8601"):
        vote_versions(VoteMatrix.from_frame(frame), taxonomy)
    with pytest.raises(InputError, match="do not say which taxonomy version"):
        vote_versions(VoteMatrix.from_frame(frame[["item", "annotator", "label"]]), taxonomy)


def test_the_version_column_follows_the_votes_that_are_kept(tmp_path):
    path = tmp_path / "votes.csv"
    path.write_text("item,annotator,label,when\n1,a,car,v1\n1,,car,v2\n1,b,sedan,v2\n"
                    "2,a,person,v1\n2,b,person,v2\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        votes = read_versioned_votes(path, version_column="when", on_missing="drop")
    assert list(votes.extras[VERSION_FIELD]) == ["v1", "v2", "v1", "v2"]
    with pytest.raises(InputError, match="no column named 'version'"):
        read_versioned_votes(path, version_column="version")
    path.write_text("item,annotator,label,taxonomy_version\n1,a,car,v1\n1,b,suv,\n")
    taxonomy = taxonomy_from_dict(SPLIT)
    with pytest.raises(InputError, match="1 vote without a taxonomy version"):
        map_votes(read_versioned_votes(path), taxonomy)


# ---------------------------------------------------------- the arithmetic
def test_fine_statistics_share_a_coarse_count_in_proportion_to_the_confusion():
    rng = np.random.default_rng(1)
    confusion = rng.dirichlet(np.ones(3), size=(2, 3))  # (A, K, L)
    membership = np.array([[1, 0, 0, 1], [0, 1, 0, 1], [0, 0, 1, 0]], dtype=float)
    stats = rng.uniform(size=(2, 3, 4))
    fine = fine_statistics(stats, confusion, membership)
    expected = np.zeros_like(fine)  # reference: loops over every cell
    for a in range(2):
        for k in range(3):
            for g in range(4):
                covered = np.flatnonzero(membership[:, g])
                share = confusion[a, k, covered] / confusion[a, k, covered].sum()
                expected[a, k, covered] += stats[a, k, g] * share
    np.testing.assert_allclose(fine, expected, rtol=1e-12)
    np.testing.assert_allclose(fine.sum(axis=2), stats.sum(axis=2))
    np.testing.assert_allclose(coarse_confusion(confusion, membership)[..., 3],
                               confusion[..., 0] + confusion[..., 1])


def test_the_likelihood_of_an_old_vote_sums_the_confusion_over_what_it_covers():
    votes = simulated(3, n_items=200)
    model = TaxonomyDawidSkene(taxonomy=taxonomy_from_dict(SPLIT)).fit(votes)
    versioned = map_votes(votes, model.taxonomy_)
    covered = {g: np.flatnonzero(versioned.membership[:, g])
               for g in range(versioned.membership.shape[1])}
    given = versioned.votes
    reference = np.zeros(given.n_items)  # log sum_k prior_k prod_votes sum_{l in S} theta
    for i in range(given.n_items):
        joint = np.log(model.class_priors_).copy()
        for v in np.flatnonzero(given.item_codes == i):
            a, g = given.annotator_codes[v], given.label_codes[v]
            joint += np.log(model.confusion_[a][:, covered[g]].sum(axis=1))
        reference[i] = np.logaddexp.reduce(joint)
    np.testing.assert_allclose(model.item_log_likelihood(votes), reference, rtol=1e-5)


def test_without_older_votes_the_model_is_pooled_dawid_skene():
    votes = simulated(2)
    labels = ["bike", "car", "person", "sedan", "suv"]  # the votes' own class order
    taxonomy = taxonomy_from_dict({"versions": [{"name": "v1", "labels": labels},
                                                {"name": "v2", "labels": labels}]})
    model = TaxonomyDawidSkene(taxonomy=taxonomy).fit(votes)
    pooled = PooledDawidSkene().fit(votes)
    assert model.n_iter_ == pooled.n_iter_
    np.testing.assert_allclose(model.posteriors_, pooled.posteriors_, atol=1e-5)
    np.testing.assert_allclose(model.confusion_, pooled.confusion_, atol=1e-5)
    assert (model.resolved_in_ == "v2").all()


def test_merges_and_renames_count_exactly_as_the_latest_label():
    rng = np.random.default_rng(4)
    rows = []
    for i in range(300):
        truth = rng.integers(3)
        for a in rng.choice(12, 3, replace=False):
            answer = truth if rng.uniform() < 0.75 else rng.integers(3)
            rows.append((str(i), str(a), int(answer), "old" if rng.uniform() < 0.5 else "new"))
    old = {0: "cat", 1: "bike", 2: "person"}
    raw = votes_with_versions([(i, a, (old if v == "old" else {0: "feline", 1: "bicycle",
                                                                2: "person"})[x], v)
                               for i, a, x, v in rows])
    latest = votes_with_versions([(i, a, ["bicycle", "feline", "person"][[1, 0, 2][x]], v)
                                  for i, a, x, v in rows])
    taxonomy = taxonomy_from_dict({"versions": [
        {"name": "old", "labels": ["cat", "lynx", "bike", "person"]},
        {"name": "new", "labels": ["bicycle", "feline", "person"],
         "merge": {"feline": ["cat", "lynx"]}, "rename": {"bike": "bicycle"}}]})
    model = TaxonomyDawidSkene(taxonomy=taxonomy).fit(raw)
    pooled = PooledDawidSkene().fit(latest)
    assert list(pooled.classes_) == list(model.classes_)
    np.testing.assert_allclose(model.posteriors_, pooled.posteriors_, atol=1e-5)


def test_an_old_vote_supports_every_label_it_covers():
    model = TaxonomyDawidSkene(taxonomy=taxonomy_from_dict(SPLIT)).fit(simulated(0))
    votes = votes_with_versions([("x", "a1", "car", "v1"), ("x", "a2", "car", "v1"),
                                 ("x", "a3", "car", "v1")], labels=["car", "suv"])
    posterior = model.predict_proba(votes)[0]
    assert posterior[:2].sum() > 0.95
    # between sedan and suv: the priors, and each annotator's chance of answering
    # "sedan or suv" for each (their confusion at the level they answered at)
    who = [list(model.annotator_ids_).index(a) for a in ("a1", "a2", "a3")]
    said_car = model.confusion_[who][:, :, :2].sum(axis=2)  # (3, K)
    expected = model.class_priors_[0] / model.class_priors_[1] * np.prod(
        said_car[:, 0] / said_car[:, 1])
    assert posterior[0] / posterior[1] == pytest.approx(expected, rel=1e-4)


# ------------------------------------------------------------- resolution
def test_resolved_in_is_the_version_whose_labels_the_votes_reach():
    taxonomy = taxonomy_from_dict({"versions": [
        {"name": "v1", "labels": ["car", "person"]},
        {"name": "v2", "labels": ["sedan", "suv", "person"], "split": {"car": ["sedan", "suv"]}},
        {"name": "v3", "labels": ["sedan", "small", "large", "person"],
         "split": {"suv": ["small", "large"]}}]})
    votes = votes_with_versions([
        ("only-v1", "a", "car", "v1"), ("only-v1", "b", "car", "v1"),
        ("suv-v2", "a", "suv", "v2"), ("suv-v2", "b", "car", "v1"),
        ("small-v3", "a", "small", "v3"), ("small-v3", "b", "car", "v1"),
        ("person", "a", "car", "v1"), ("person", "b", "person", "v3"),
    ])
    versioned = map_votes(votes, taxonomy)
    small, person = 1, 3
    version, open_labels = resolve(versioned, np.array([small, small, small, person]))
    assert [taxonomy.names[v] for v in version] == ["v1", "v2", "v3", "v3"]
    assert open_labels[0].tolist() == [True, False, True, False]  # sedan, large
    assert open_labels[1].tolist() == [False, False, True, False]  # large only
    anchored = np.array([True, False, False, False])
    assert resolve(versioned, np.array([small, small, small, person]), anchored)[0][0] == 2


def test_the_relabel_list_is_the_items_whose_votes_cannot_resolve_the_split():
    votes = simulated(5)
    taxonomy = taxonomy_from_dict(SPLIT)
    check = check_taxonomy(votes, taxonomy)
    consensus = dict(zip(check.versioned.votes.item_ids, check.model.labels_, strict=True))
    separated = set()  # independent reference: plain sets of covered labels per vote
    for position in range(votes.n_votes):
        version = votes.extras[VERSION_FIELD][position]
        label = str(votes.classes[votes.label_codes[position]])
        if len(set(taxonomy.covers(version, label)) & {"sedan", "suv"}) == 1:
            separated.add(votes.item_ids[votes.item_codes[position]])
    expected = {i for i, label in consensus.items()
                if label in ("sedan", "suv") and i not in separated}
    assert expected and set(check.relabel["item"]) == expected
    assert (check.relabel["resolved_in"] == "v1").all()
    assert set(check.relabel["candidates"]) == {"sedan suv"}


def test_the_relabel_list_makes_a_review_queue():
    from consensus.review import build_queue

    check = check_taxonomy(simulated(5), taxonomy_from_dict(SPLIT))
    queue = build_queue(check.flags, check.versioned.raw, check.annotators)
    assert list(queue["item"]) == list(check.relabel.sort_values(
        "confidence", kind="stable")["item"])
    assert queue["reasons"].str.startswith("unresolved_split (resolved only in v1: choose "
                                           "among sedan suv)").all()
    assert queue["votes"].str.contains("car").all()


def test_gold_is_in_the_latest_labels_and_needs_no_relabelling():
    votes = simulated(6, n_items=200)
    taxonomy = taxonomy_from_dict(SPLIT)
    first = check_taxonomy(votes, taxonomy).relabel["item"].iloc[0]
    check = check_taxonomy(votes, taxonomy, gold={first: "suv"})
    assert first not in set(check.relabel["item"])
    assert check.model.labels_[list(check.versioned.votes.item_ids).index(first)] == "suv"
    with pytest.raises(InputError, match="'car@v1' is not a label of the latest"):
        latest_gold_codes(map_votes(votes, taxonomy), {first: "car@v1"})


# ---------------------------------------------------------------- workflows
def test_aggregate_gives_the_usual_result_in_the_latest_labels():
    votes = simulated(7)
    result = aggregate_taxonomy(votes, taxonomy_from_dict(SPLIT))
    items = result.items
    assert list(items.columns[:6]) == ["item", "label", "confidence", "n_votes", "agreement",
                                       "tie"]
    assert [c for c in items.columns if c.startswith("p_")] == ["p_sedan", "p_suv", "p_person",
                                                                "p_bike"]
    assert set(items["label"]) <= {"sedan", "suv", "person", "bike"}
    # an item with only car votes agrees fully with a sedan or suv consensus
    only_car = [i for i in range(votes.n_items) if
                set(votes.classes[votes.label_codes[votes.item_codes == i]]) == {"car"}]
    assert (items.loc[only_car, "agreement"] == 1.0).all()
    assert "method taxonomy" in result.summary()
    assert "resolved only in an older version" in resolution_line(result.model)
    with pytest.raises(InputError, match="pooled Dawid-Skene over the latest labels"):
        aggregate_taxonomy(votes, taxonomy_from_dict(SPLIT), method="ds")


def test_the_check_counts_versions_mixed_items_and_unused_labels():
    votes = votes_with_versions([("1", "a", "car", "v1"), ("1", "b", "sedan", "v2"),
                                 ("2", "a", "person", "v1"), ("2", "b", "person", "v1"),
                                 ("3", "a", "suv", "v2"), ("3", "b", "suv", "v2")])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check = check_taxonomy(votes, taxonomy_from_dict(SPLIT))
    assert check.per_version[["version", "votes", "items"]].values.tolist() == [
        ["v1", 3, 2], ["v2", 3, 2]]
    assert check.mixed_items.values.tolist() == [["1", "v1 v2", 2]]
    assert check.unused_labels.values.tolist() == [["v1", "bike"], ["v2", "person"],
                                                   ["v2", "bike"]]
    assert check.to_dict()["relabel"] == 0


# ---------------------------------------------------------------- the model
def test_predicting_fitted_votes_and_new_ones():
    votes = simulated(8)
    model = TaxonomyDawidSkene(taxonomy=taxonomy_from_dict(SPLIT)).fit(votes)
    np.testing.assert_array_equal(model.predict_proba(votes), model.posteriors_)
    part = votes.take_items(np.arange(votes.n_items) < 50)
    np.testing.assert_allclose(model.predict_proba(part), model.posteriors_[:50], atol=1e-5)
    stranger = votes_with_versions([("n", "nobody", "car", "v1"), ("n", "a1", "suv", "v2")])
    assert model.predict(stranger)[0] == "suv"
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(again.predict_proba(votes), model.posteriors_)
    assert set(model.get_params()) >= {"taxonomy", "max_iter", "prior_strength"}


def test_gold_and_reviews_anchor_the_fit_and_gold_measures_it():
    votes = simulated(9, n_items=300)
    taxonomy = taxonomy_from_dict(SPLIT)
    plain = aggregate_taxonomy(votes, taxonomy)
    ids = plain.votes.item_ids
    gold = dict(zip(ids[:30], plain.model.labels_[:30], strict=True))
    reviews = {ids[40]: "bike"}
    result = aggregate_taxonomy(votes, taxonomy, gold=gold, reviews=reviews)
    assert result.n_gold == 30 and result.n_reviews == 1
    assert result.accuracy is not None and result.accuracy.n_gold == 31  # reviews count too
    assert result.model.labels_[40] == "bike" and result.model.resolved_in_[40] == "v2"


def test_single_votes_keep_their_vote_with_a_warning():
    votes = votes_with_versions([("1", "a", "car", "v1"), ("2", "a", "person", "v1"),
                                 ("3", "b", "suv", "v2")])
    with pytest.warns(UserWarning, match="every item has a single vote"):
        model = TaxonomyDawidSkene(taxonomy=taxonomy_from_dict(SPLIT)).fit(votes)
    assert list(model.labels_[1:]) == ["person", "suv"] and model.n_iter_ == 0


def test_a_model_without_a_taxonomy_says_so():
    with pytest.raises(InputError, match="needs a taxonomy"):
        TaxonomyDawidSkene().fit(simulated(0, n_items=20))


# --------------------------------------------------------------------- CLI
def test_taxonomy_check_on_the_command_line(tmp_path):
    (tmp_path / "t.json").write_text(json.dumps(SPLIT))
    (tmp_path / "votes.csv").write_text(
        "item,annotator,label,version\n1,a,car,v1\n1,b,car,v1\n1,c,person,v1\n"
        "2,a,sedan,v2\n2,b,sedan,v2\n2,c,car,v1\n3,a,suv,v2\n3,b,suv,v2\n3,c,suv,v2\n"
        "4,a,car,v1\n4,b,car,v1\n5,a,person,v2\n5,b,person,v1\n")
    args = ["check", str(tmp_path / "votes.csv"), "--taxonomy", str(tmp_path / "t.json"),
            "--version-column", "version", "-o", str(tmp_path / "relabel.csv")]
    result = CliRunner().invoke(taxonomy_group, args)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1:] == [
        "  v1 → v2: split car → sedan, suv",
        "votes per version:",
        "  v1: 7 votes (53.8%) on 4 items by 3 annotators",
        "  v2: 6 votes (46.2%) on 3 items by 3 annotators",
        "2 items with votes from more than one version, e.g. 2, 5",
        "labels never used: v1 bike; v2 bike",
        "2 items to relabel in v2: no vote decides between the labels of a split "
        "(2 resolved only in v1), e.g. 1, 4",
    ]
    relabel = pd.read_csv(tmp_path / "relabel.csv", dtype=str)
    assert list(relabel.columns) == ["item", "label", "confidence", "resolved_in", "candidates",
                                     "n_votes", "votes"]
    assert relabel["item"].tolist() == ["1", "4"]
    assert relabel["votes"].tolist() == ["car@v1×2 person×1", "car@v1×2"]
    as_json = CliRunner().invoke(taxonomy_group, args[:-2] + ["--json"])
    assert json.loads(as_json.output)["relabel"] == 2


def test_taxonomy_check_errors_are_one_line(tmp_path):
    (tmp_path / "t.json").write_text(json.dumps(SPLIT))
    (tmp_path / "votes.csv").write_text("item,annotator,label,taxonomy_version\n1,a,car,v2\n"
                                        "1,b,suv,v2\n")
    result = CliRunner().invoke(taxonomy_group, ["check", str(tmp_path / "votes.csv"),
                                                 "--taxonomy", str(tmp_path / "t.json")])
    assert result.exit_code == 2
    assert "label(s) not in the taxonomy version the vote was made under: 'car' under v2" \
        in result.output
    missing = CliRunner().invoke(taxonomy_group, ["check", str(tmp_path / "votes.csv")])
    assert missing.exit_code == 2 and "--taxonomy FILE" in missing.output
