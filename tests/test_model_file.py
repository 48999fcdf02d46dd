"""Saved models (``.cmodel``), ``consensus predict`` and warm starts (issue #13).

Round trips are checked against the fitted model in memory (the reference: the same
arithmetic, so equality is exact); the warm start's fixed point against a cold fit run
to a tight tolerance; damaged and foreign-version files against the messages users see.
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import EXAMPLES, GOLDEN

from consensus import InputError, VoteMatrix, aggregate, read_gold, read_votes
from consensus.cli import cli
from consensus.models import DawidSkene, MajorityVote, PooledDawidSkene, make_model, persist
from consensus.models.persist import (
    FORMAT_VERSION,
    load_model,
    save_model,
    warm_start,
    with_annotators,
)
from consensus.simulate import simulate
from consensus.workflows.predict import predict, read_batch, save_result

SENTIMENT = EXAMPLES / "sentiment_votes.csv"
SAVED = ["pooled", "ds", "one-coin", "mv", "ebcc", "auto"]


@pytest.fixture(scope="module")
def votes() -> VoteMatrix:
    return read_votes(SENTIMENT)


@pytest.fixture(scope="module")
def batch(votes) -> VoteMatrix:
    """200 items of the example, a seventh of their votes from annotators renamed as new."""
    frame = votes.to_frame()
    part = frame[frame["item"].isin(votes.item_ids[:200])].reset_index(drop=True)
    renamed = part["annotator"].where(part.index % 7 != 0, "new-" + part["annotator"])
    return VoteMatrix.from_frame(part.assign(annotator=renamed))


@pytest.fixture(scope="module")
def fitted(votes) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {method: make_model(method).fit(votes) for method in SAVED}


def saved_copy(model, path: Path, **extra):
    save_model(path, model, **extra)
    return load_model(path)


# ------------------------------------------------------------------ round trips
@pytest.mark.parametrize("method", SAVED)
def test_save_load_predicts_exactly_as_the_fitted_model(method, fitted, votes, batch, tmp_path):
    model = fitted[method]
    saved = saved_copy(model, tmp_path / "m.cmodel")
    assert saved.method == method and saved.chosen_method == persist.method_of(model)
    np.testing.assert_array_equal(saved.model.predict_proba(batch), model.predict_proba(batch))
    np.testing.assert_array_equal(saved.model.confusion_, model.confusion_)
    np.testing.assert_array_equal(saved.model.class_priors_, model.class_priors_)
    assert [str(c) for c in saved.model.classes_] == [str(c) for c in model.classes_]
    # no training items are kept, so the training votes are predicted from the parameters:
    # the fit's last E-step, up to EBCC's float32 arithmetic
    np.testing.assert_allclose(saved.model.predict_proba(votes), model.posteriors_, atol=1e-6)
    assert not hasattr(saved.model, "posteriors_")
    assert saved.model.n_iter_ == model.n_iter_ and saved.model.converged_ == model.converged_


def test_the_file_is_a_zip_of_a_json_header_and_npy_arrays(fitted, tmp_path):
    path = tmp_path / "m.cmodel"
    save_model(path, fitted["auto"])
    with zipfile.ZipFile(path) as archive:
        header = json.loads(archive.read("header.json"))
        names = set(archive.namelist())
        for name, entry in header["arrays"].items():
            data = archive.read(f"arrays/{name}.npy")
            assert hashlib.sha256(data).hexdigest() == entry["sha256"]
            assert np.load(io.BytesIO(data), allow_pickle=False).shape == tuple(entry["shape"])
    assert names == {"header.json"} | {f"arrays/{n}.npy" for n in header["arrays"]}
    assert header["format"] == "consensus-model" and header["format_version"] == FORMAT_VERSION
    assert header["method"] == "auto" and header["model"]["method"] == "pooled"
    assert header["classes"] == ["0", "1"] and len(header["annotators"]) == 83
    assert {"confusion", "class_priors", "population_prior", "annotator_votes",
            "held_classes", "concentration"} <= set(header["arrays"])
    assert header["auto"]["params"]["candidates"] == ["pooled", "ebcc", "mv"]
    assert header["model"]["params"]["prior_strength"] == 1.5
    saved = load_model(path)
    assert saved.model.candidates == ("pooled", "ebcc", "mv")  # tuples come back as tuples
    np.testing.assert_array_equal(saved.model.population_prior_,
                                  fitted["auto"].population_prior_)
    assert list(saved.model.selection_["method"]) == ["pooled", "ebcc", "mv"]


def test_models_that_need_more_than_the_file_keeps_are_refused(votes, tmp_path):
    glad = make_model("glad", max_iter=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        glad.fit(votes)
    with pytest.raises(InputError, match="glad model cannot be saved.*pooled, ds, one-coin"):
        save_model(tmp_path / "g.cmodel", glad)
    with pytest.raises(InputError, match="not fitted"):
        save_model(tmp_path / "u.cmodel", PooledDawidSkene())
    assert not (tmp_path / "g.cmodel").exists()


@pytest.mark.parametrize("method", ["pooled", "mv", "ebcc"])
def test_loaded_models_and_saved_files_pickle(method, fitted, batch, tmp_path):
    saved = saved_copy(fitted[method], tmp_path / "m.cmodel")
    again = pickle.loads(pickle.dumps(saved))
    np.testing.assert_array_equal(again.model.predict_proba(batch),
                                  saved.model.predict_proba(batch))
    np.testing.assert_array_equal(predict(batch, again).posteriors,
                                  predict(batch, saved).posteriors)


# -------------------------------------------------------------- predict workflow
def test_predict_gives_new_annotators_the_pooled_prior_and_the_saved_discount(
        votes, batch, tmp_path):
    result = aggregate(votes, method="pooled")
    save_result(result, tmp_path / "m.cmodel")
    saved = load_model(tmp_path / "m.cmodel")
    out = predict(batch, saved)
    model = result.model
    # independent recomputation: known rows from confusion_, new rows the prior's mean
    alpha = model.population_prior_
    newcomer = 1.5 * 2 * alpha / alpha.sum(axis=1, keepdims=True)
    newcomer /= newcomer.sum(axis=1, keepdims=True)
    known = {str(a): k for k, a in enumerate(model.annotator_ids_)}
    frame = batch.to_frame()
    expected = np.tile(np.log(model.class_priors_), (batch.n_items, 1))
    row = {str(i): n for n, i in enumerate(batch.item_ids)}
    for item, annotator, label in frame.itertuples(index=False):
        rows = newcomer if str(annotator) not in known else model.confusion_[known[annotator]]
        expected[row[str(item)]] += np.log(rows[:, int(label)])
    expected = np.exp(expected - expected.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(out.raw_posteriors, expected, atol=2e-5)
    assert out.correction == "discounted"
    np.testing.assert_allclose(
        out.posteriors, result.correlation.discount(out.raw_posteriors, batch.votes_per_item))
    assert int((~out.known).sum()) == len({a for a in frame["annotator"] if a.startswith("new-")})
    items = out.items
    assert list(items.columns) == list(result.items.columns)
    assert (items["label"] == pd.Series(model.classes_[expected.argmax(axis=1)])).all()
    text = out.summary()
    assert "new to the model" in text and "the pooled prior" in text
    assert "discounted for correlated votes as measured at fitting" in text
    assert out.to_dict()["vote_correlation"] == pytest.approx(result.correlation.rho)


def test_predict_calibrates_with_the_saved_gold_calibrator(votes, batch, tmp_path):
    gold = read_gold(GOLDEN / "sentiment_gold.csv", votes)
    result = aggregate(votes, method="pooled", gold=gold)
    assert result.calibration is not None
    save_result(result, tmp_path / "m.cmodel")
    saved = load_model(tmp_path / "m.cmodel")
    fitted_calibrator = result.calibration.calibrator
    assert (saved.calibrator.kind, saved.calibrator.temperature, saved.calibrator.platt) == (
        fitted_calibrator.kind, fitted_calibrator.temperature, fitted_calibrator.platt)
    for mine, theirs in zip(saved.calibrator.knots, fitted_calibrator.knots, strict=True):
        np.testing.assert_array_equal(mine, theirs)
    out = predict(batch, saved)
    assert out.correction == "calibrated"
    np.testing.assert_allclose(out.posteriors,
                               result.calibration.calibrator.apply(out.raw_posteriors))
    assert saved.header["fit"]["gold_items"] == 300
    assert "calibrated on gold" in out.summary()
    raw = predict(batch, saved, honest_confidence=False)
    np.testing.assert_array_equal(raw.posteriors, raw.raw_posteriors)


def test_a_run_with_raw_confidence_still_saves_the_vote_correlation(votes, tmp_path):
    result = aggregate(votes, method="pooled", honest_confidence=False)
    assert result.correlation is None
    save_result(result, tmp_path / "m.cmodel")
    assert load_model(tmp_path / "m.cmodel").correlation.rho > 0


def test_ebcc_gives_new_annotators_its_row_prior(fitted, batch):
    model = fitted["ebcc"]
    extended = with_annotators(model, batch.annotator_ids)
    assert len(extended.annotator_ids_) > len(model.annotator_ids_) and extended is not model
    new = len(model.annotator_ids_)
    np.testing.assert_array_equal(extended.variational_.rows[new], model.row_prior_)
    assert len(model.annotator_ids_) == 83  # the fitted model is left as it was
    assert with_annotators(fitted["ds"], batch.annotator_ids) is fitted["ds"]


def test_a_batch_may_use_some_labels_and_unknown_labels_are_named(fitted, tmp_path):
    path = tmp_path / "m.cmodel"
    saved = saved_copy(fitted["pooled"], path)
    one = tmp_path / "one.csv"
    one.write_text("item,annotator,label\nx,A2H3M1JVY991Q3,1\nx,someone,1\n")
    matrix = read_batch(one, saved)
    assert list(matrix.classes) == ["0", "1"]
    assert predict(matrix, saved).items["label"].tolist() == ["1"]
    bad = tmp_path / "bad.csv"
    bad.write_text("item,annotator,label\nx,a,1\nx,b,maybe\ny,a,perhaps\ny,b,maybe\n")
    with pytest.raises(InputError, match=r"bad.csv: label\(s\) 'maybe' \(2 votes\), 'perhaps' "
                                         r"\(1 vote\) are not classes of the model in .*m.cmodel"):
        read_batch(bad, saved)


# ------------------------------------------------------------ damaged and foreign files
def rewrite(path: Path, header_change=None, member_change=None) -> None:
    """Rewrite a model file as a valid zip with a changed header or array member."""
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    header = json.loads(members["header.json"])
    if header_change:
        header_change(header)
    members["header.json"] = json.dumps(header).encode()
    if member_change:
        members = member_change(members)
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


@pytest.fixture
def model_file(fitted, tmp_path) -> Path:
    path = tmp_path / "m.cmodel"
    save_model(path, fitted["pooled"])
    return path


def test_a_truncated_file_is_refused(model_file):
    data = model_file.read_bytes()
    model_file.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="truncated"):
        load_model(model_file)


def test_a_flipped_byte_fails_the_crc(model_file):
    with zipfile.ZipFile(model_file) as archive:
        info = archive.getinfo("arrays/confusion.npy")
    data = bytearray(model_file.read_bytes())
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    data[start + info.compress_size // 2] ^= 0xFF
    model_file.write_bytes(bytes(data))
    with pytest.raises(InputError, match="altered or truncated .*confusion.npy"):
        load_model(model_file)


def test_an_altered_array_fails_its_sha256(model_file):
    def change(members):
        buffer = io.BytesIO()
        np.save(buffer, np.load(io.BytesIO(members["arrays/confusion.npy"])) * 0.5)
        return {**members, "arrays/confusion.npy": buffer.getvalue()}

    rewrite(model_file, member_change=change)
    with pytest.raises(InputError, match="SHA-256 checksum of arrays/confusion.npy does not "
                                         "match the header"):
        load_model(model_file)


def test_pickled_objects_in_a_file_are_never_loaded(model_file, tmp_path):
    sentinel = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (open, (str(sentinel), "w"))

    def change(members):
        buffer = io.BytesIO()
        np.save(buffer, np.array([Payload()], dtype=object), allow_pickle=True)
        return {**members, "arrays/confusion.npy": buffer.getvalue()}

    def listed(header):
        data = io.BytesIO()
        np.save(data, np.array([Payload()], dtype=object), allow_pickle=True)
        header["arrays"]["confusion"]["sha256"] = hashlib.sha256(data.getvalue()).hexdigest()

    rewrite(model_file, header_change=listed, member_change=change)
    with pytest.raises(InputError, match="no plain .npy array"):
        load_model(model_file)
    assert not sentinel.exists()


@pytest.mark.parametrize("version, message", [
    (0, "model format version 0 .* cannot be read or migrated .*fit the model again"),
    (2, "model format version 2, written by consensus 9.9; this is consensus .*upgrade"),
    ("1", "not a consensus model file"),
])
def test_other_format_versions_are_refused_with_what_to_do(model_file, version, message):
    def change(header):
        header["format_version"] = version
        header["consensus_version"] = "9.9"

    rewrite(model_file, header_change=change)
    with pytest.raises(InputError, match=message):
        load_model(model_file)


def test_an_older_version_goes_through_the_migration_hook(model_file, monkeypatch, batch):
    def rename(header):
        header["format_version"] = 0
        header["old_name"] = header.pop("classes")

    rewrite(model_file, header_change=rename)

    def migrate(header, arrays):
        header["classes"] = header.pop("old_name")
        return header, arrays

    monkeypatch.setitem(persist.MIGRATIONS, 0, migrate)
    saved = load_model(model_file)
    assert saved.classes == ["0", "1"] and saved.header["format_version"] == 1
    assert saved.model.predict_proba(batch).shape == (batch.n_items, 2)


def test_files_that_are_not_models_are_refused(tmp_path):
    for name, content in [("text.cmodel", b"item,annotator,label\n"), ("empty.cmodel", b"")]:
        (tmp_path / name).write_bytes(content)
        with pytest.raises(InputError, match="not a consensus model file"):
            load_model(tmp_path / name)
    with zipfile.ZipFile(tmp_path / "other.zip", "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(InputError, match="no header.json"):
        load_model(tmp_path / "other.zip")
    with pytest.raises(InputError, match="no such model file"):
        load_model(tmp_path / "missing.cmodel")


def test_a_header_inconsistent_with_its_arrays_is_refused(model_file):
    rewrite(model_file, header_change=lambda h: h["classes"].append("2"))
    with pytest.raises(InputError, match="inconsistent .*confusion has shape"):
        load_model(model_file)


# ------------------------------------------------------------------- warm starts
@pytest.fixture(scope="module")
def days():
    """Yesterday: 2,000 items; today: the same plus 1,000 more, some by new annotators."""
    sim = simulate(3000, 40, n_classes=3, votes_per_item=3, activity=1.0, seed=5)
    votes = sim.votes
    frame = votes.to_frame()
    late = frame["item"].astype(int) >= 2000
    frame = frame.astype(str)
    renamed = late & (frame["annotator"].astype(int) % 5 == 0)
    frame.loc[renamed, "annotator"] = "new-" + frame.loc[renamed, "annotator"]
    today = VoteMatrix.from_frame(frame)
    yesterday = VoteMatrix.from_frame(frame[~late])
    return yesterday, today


@pytest.mark.parametrize("cls", [PooledDawidSkene, DawidSkene])
def test_weight_zero_ends_at_the_cold_starts_fixed_point_in_fewer_iterations(cls, days):
    yesterday, today = days
    earlier = cls().fit(yesterday)
    cold, warm = cls().fit(today), cls().start_from(earlier).fit(today)
    assert warm.n_iter_ < cold.n_iter_
    # run to a tight tolerance, both reach the same fixed point
    tight = {"tol": 1e-11, "max_iter": 3000}
    cold, warm = cls(**tight).fit(today), cls(**tight).start_from(earlier).fit(today)
    np.testing.assert_allclose(warm.posteriors_, cold.posteriors_, atol=1e-3)
    np.testing.assert_array_equal(warm.labels_, cold.labels_)
    assert warm.params_.history is None


def test_a_history_weight_keeps_annotators_near_their_saved_confusion(days):
    yesterday, today = days
    earlier = PooledDawidSkene().fit(yesterday)
    cold = PooledDawidSkene().fit(today)
    known = np.isin(today.annotator_ids, earlier.annotator_ids_)
    row = {a: k for k, a in enumerate(earlier.annotator_ids_)}
    before = earlier.confusion_[[row[a] for a in today.annotator_ids[known]]]

    def distance(model):
        return np.abs(model.confusion_[known] - before).mean()

    distances = [distance(PooledDawidSkene().start_from(earlier, w).fit(today))
                 for w in (0, 100, 10_000)]
    assert distances[0] == pytest.approx(distance(cold), rel=0.2)
    assert distances[0] > distances[1] > distances[2] and distances[2] < 0.1 * distances[0]
    start = warm_start(earlier, today, 100, PooledDawidSkene())
    assert start.previous.history.sum(axis=(1, 2))[known] == pytest.approx(100)
    assert not start.previous.history[~known].any() and start.known.tolist() == known.tolist()
    warm = PooledDawidSkene().start_from(earlier, 100).fit(today)
    again = pickle.loads(pickle.dumps(warm))
    np.testing.assert_array_equal(again.predict_proba(yesterday), warm.predict_proba(yesterday))


def test_warm_starts_check_the_model_weight_and_labels(days, fitted):
    yesterday, today = days
    earlier = DawidSkene().fit(yesterday)
    with pytest.raises(InputError, match="MajorityVote cannot start from a fitted model"):
        persist.check_warm_start(MajorityVote(), 0)
    with pytest.raises(InputError, match="history_weight must be a non-negative"):
        DawidSkene().start_from(earlier, -1)
    with pytest.raises(InputError, match="were not classes when the model was fitted"):
        DawidSkene().start_from(fitted["pooled"]).fit(today)


def test_aggregate_from_a_saved_model_keeps_its_method(days, tmp_path):
    yesterday, today = days
    first = aggregate(yesterday)
    save_result(first, tmp_path / "y.cmodel")
    saved = load_model(tmp_path / "y.cmodel")
    again = aggregate(today, init=saved)
    assert again.method == saved.chosen_method and again.init is saved
    assert again.model.n_iter_ < aggregate(today, method=saved.chosen_method).model.n_iter_
    with pytest.raises(InputError, match="history_weight=... needs a model to start from"):
        aggregate(today, history_weight=5)
    ebcc = make_model("ebcc").fit(yesterday)
    with pytest.raises(InputError, match="holds a ebcc model, and only pooled, ds, one-coin"):
        aggregate(today, init=ebcc)
    with pytest.raises(InputError, match="method 'mv' cannot start from a fitted model"):
        aggregate(today, method="mv", init=saved)
    save_result(again, tmp_path / "t.cmodel")
    assert load_model(tmp_path / "t.cmodel").header["fit"]["started_from"].endswith("y.cmodel")


# ------------------------------------------------------------------ the command line
def run(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_cli_save_predict_and_warm_start(tmp_path):
    model, labels = tmp_path / "m.cmodel", tmp_path / "labels.csv"
    first = run("aggregate", SENTIMENT, "-o", labels, "--save-model", model)
    assert first.exit_code == 0 and f"model saved to {model}" in first.output
    new = tmp_path / "new.csv"
    pd.read_csv(SENTIMENT, dtype=str).head(50).to_csv(new, index=False)
    out = tmp_path / "new_labels.csv"
    second = run("predict", new, "--model", model, "-o", out, "--json")
    assert second.exit_code == 0
    info = json.loads(second.output)
    assert info["model"]["chosen_method"] == "pooled" and info["vote_correlation"] > 0
    table = pd.read_csv(out)
    assert list(table.columns) == list(pd.read_csv(labels).columns)
    third = run("aggregate", SENTIMENT, "-o", labels, "--init-model", model,
                "--history-weight", "10")
    assert third.exit_code == 0
    assert "started from" in third.output and "worth 10 votes per annotator" in third.output


@pytest.mark.parametrize("args, message", [
    (["predict", "{votes}", "--model", "{missing}"], "no such model file"),
    (["predict", "{bad}", "--model", "{model}"], "label(s) 'maybe' (1 vote) are not classes"),
    (["predict", "{votes}", "--model", "{model}", "--labels", "0,1"], "--labels: the label set"),
    (["aggregate", "{votes}", "--history-weight", "3"], "--history-weight needs --init-model"),
    (["aggregate", "{votes}", "--method", "glad", "--save-model", "{model}"],
     "a glad model cannot be saved"),
])
def test_cli_bad_input_exits_2_with_one_line(tmp_path, fitted, args, message):
    model = tmp_path / "m.cmodel"
    save_model(model, fitted["pooled"])
    bad = tmp_path / "bad.csv"
    bad.write_text("item,annotator,label\nx,a,1\nx,b,maybe\n")
    paths = {"votes": SENTIMENT, "missing": tmp_path / "none.cmodel", "bad": bad, "model": model}
    result = CliRunner().invoke(cli, [a.format(**paths) for a in args])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
