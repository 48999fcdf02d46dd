"""Taxonomy versions: the labels of each version, and what an old label means now.

A taxonomy file lists versions oldest first, each with its labels and how it came
from the one before: ``split`` (one label becomes several), ``merge`` (several
become one), ``rename``, and ``add`` (a label with no ancestor). Composing the
steps gives every (version, label) the set of latest-version labels it covers: a
``car`` vote made under v1 covers ``sedan`` and ``suv`` alike; a ``cat`` vote
made before ``cat`` and ``lynx`` were merged covers ``feline`` exactly.

Votes say which version they were made under: a per-vote ``taxonomy_version``
field, or their time (``created_at``) against each version's ``start``.
:func:`map_votes` turns them into votes over *given labels* (the latest labels,
then one per coarser set that some older label covers) with the 0/1 membership
matrix the taxonomy-aware model reads them through, and :func:`resolve` says,
per item, which version's precision its votes reach.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import InputError
from ..wording import option, plural
from .votes import VoteMatrix

#: The per-vote field of ``VoteMatrix.extras`` (and default column) naming a vote's version.
VERSION_FIELD = "taxonomy_version"
#: How a version may come from the one before.
RELATIONS = ("split", "merge", "rename", "add")
#: Every key a version may have.
VERSION_KEYS = ("name", "labels", "start", *RELATIONS)
_NO_START = np.iinfo(np.int64).min
#: The options of ``read_votes`` that apply to a table (the rest are for tools' exports).
TABLE_OPTIONS = ("item", "annotator", "label", "labels", "duplicates", "on_missing")


@dataclass(frozen=True)
class TaxonomyVersion:
    """One version: its labels (in output order), when it started, and how it came about.

    ``steps`` maps each label of the previous version to the labels of this one it
    became (itself when unchanged); empty for the first version. ``changes`` are
    the declared relations, for reports (``split car → sedan, suv``).
    """

    name: str
    labels: tuple[str, ...]
    start: pd.Timestamp | None = None
    steps: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    changes: tuple[str, ...] = ()


@dataclass(frozen=True, eq=False)
class Taxonomy:
    """Versions oldest first; the last is the one consensus is given in."""

    versions: tuple[TaxonomyVersion, ...]
    source: str = "the taxonomy"

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.versions)

    @property
    def latest(self) -> TaxonomyVersion:
        return self.versions[-1]

    @property
    def has_starts(self) -> bool:
        return any(v.start is not None for v in self.versions)

    @cached_property
    def coverage(self) -> tuple[dict[str, tuple[int, ...]], ...]:
        """Per version, each label → the codes of the latest labels it covers, in order."""
        covered: dict[str, tuple[int, ...]] = {
            label: (k,) for k, label in enumerate(self.latest.labels)}
        out = [covered]
        for version in reversed(self.versions[1:]):
            covered = {old: tuple(sorted(set().union(*(covered[n] for n in new))))
                       for old, new in version.steps.items()}
            out.append(covered)
        return tuple(reversed(out))

    def covers(self, version: str, label: str) -> tuple[str, ...]:
        """The latest labels a label of ``version`` covers (InputError for unknown names)."""
        index = self.index(version)
        if label not in self.coverage[index]:
            raise InputError(f"{self.source}: {label!r} is not a label of {version}")
        return tuple(self.latest.labels[k] for k in self.coverage[index][label])

    def index(self, name: str) -> int:
        if name not in self.names:
            raise InputError(f"{self.source}: no version {name!r}; its versions are "
                             f"{', '.join(self.names)}")
        return self.names.index(name)

    @cached_property
    def indistinguishable(self) -> np.ndarray:
        """(n_versions, L, L) bool: latest labels l, l' that no label of version v tells
        apart (each of its labels covers both or neither); False on the diagonal."""
        n_latest = len(self.latest.labels)
        out = np.zeros((len(self.versions), n_latest, n_latest), dtype=bool)
        for v, covered in enumerate(self.coverage):
            member = np.zeros((n_latest, len(covered)))
            for g, codes in enumerate(covered.values()):
                member[list(codes), g] = 1.0
            agree = member @ member.T + (1 - member) @ (1 - member).T
            out[v] = agree == len(covered)
        out[:, np.arange(n_latest), np.arange(n_latest)] = False
        return out

    def version_at(self, times: np.ndarray, source: str = "the votes") -> np.ndarray:
        """Index of the version in force at each time (ISO 8601 text; naive times are UTC)."""
        parsed = pd.to_datetime(pd.Series(times, dtype=object), utc=True, errors="coerce",
                                format="ISO8601")
        bad = np.flatnonzero(parsed.isna().to_numpy())
        if bad.size:
            raise InputError(f"{source}: {plural(bad.size, 'vote')} with a time that is not "
                             f"ISO 8601 (e.g. {times[bad[0]]!r}), so the taxonomy version "
                             f"they were made under is unknown")
        ns = parsed.dt.tz_localize(None).to_numpy("datetime64[ns]").astype(np.int64)
        starts = np.array([_NO_START if v.start is None else v.start.value
                           for v in self.versions], dtype=np.int64)
        index = np.searchsorted(starts, ns, side="right") - 1
        early = np.flatnonzero(index < 0)
        if early.size:
            first = self.versions[0]
            raise InputError(f"{source}: {plural(early.size, 'vote')} made before the first "
                             f"version {first.name} started ({first.start}), e.g. at "
                             f"{times[early[0]]!r}")
        return index.astype(np.int32)

    def describe(self) -> list[str]:
        """One line per version after the first: ``v1 → v2: split car → sedan, suv``."""
        return [f"{a.name} → {b.name}: {'; '.join(b.changes) or 'no change'}"
                for a, b in zip(self.versions, self.versions[1:], strict=False)]


# ------------------------------------------------------------------ reading the file
def read_taxonomy(path: str | os.PathLike[str]) -> Taxonomy:
    """Read a taxonomy file (``.json``, or ``.toml`` on Python 3.11+) and check it.

    Errors name the file and the version, and say what to change.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    suffix = path.suffix.lower()
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text") from None
    if suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    elif suffix == ".toml":
        try:
            import tomllib
        except ImportError:  # pragma: no cover - Python 3.10
            raise InputError(f"{path}: TOML needs Python 3.11 or later; write it as JSON") from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise InputError(f"{path}: not valid TOML ({exc})") from None
    else:
        raise InputError(f"{path}: unknown taxonomy file type {suffix or '(none)'!r}; use "
                         f".json or .toml")
    return taxonomy_from_dict(data, str(path))


def taxonomy_from_dict(data: Any, source: str = "the taxonomy") -> Taxonomy:
    """Check a parsed taxonomy (``{"versions": [...]}``, oldest first) and build it."""
    if not isinstance(data, Mapping) or not isinstance(data.get("versions"), list):
        raise InputError(f'{source}: expected {{"versions": [...]}}, a list of versions '
                         f"oldest first, each with a name and its labels")
    unknown = [str(k) for k in data if k not in ("versions", "description")]
    if unknown:
        raise InputError(f"{source}: unknown key(s) {', '.join(unknown)}; a taxonomy has "
                         f"versions (and a description)")
    versions: list[TaxonomyVersion] = []
    for position, entry in enumerate(data["versions"]):
        version = _parse_version(entry, position, versions[-1] if versions else None, source)
        if version.name in {v.name for v in versions}:
            raise InputError(f"{source}: version {version.name!r} appears twice; list each "
                             f"version once, oldest first")
        versions.append(version)
    if not versions:
        raise InputError(f"{source}: no versions")
    if len(versions[-1].labels) < 2:
        raise InputError(f"{source}: the latest version {versions[-1].name} needs at least "
                         f"two labels")
    _check_starts(versions, source)
    return Taxonomy(tuple(versions), source)


def _parse_version(entry: Any, position: int, previous: TaxonomyVersion | None,
                   source: str) -> TaxonomyVersion:
    where = f"{source}: version {position + 1}"
    if not isinstance(entry, Mapping):
        raise InputError(f"{where}: expected an object with a name and labels")
    unknown = [str(k) for k in entry if k not in VERSION_KEYS]
    if unknown:
        raise InputError(f"{where}: unknown key(s) {', '.join(unknown)}; a version has "
                         f"{', '.join(VERSION_KEYS)}")
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        raise InputError(f"{where}: needs a name (text)")
    name = name.strip()
    where = f"{source}: version {name!r}"
    labels = _labels(entry.get("labels"), f"{where}: labels")
    start = _start(entry.get("start"), where)
    if previous is None:
        if any(key in entry for key in RELATIONS):
            raise InputError(f"{where}: the first version has no previous version to "
                             f"{', '.join(RELATIONS)} from")
        return TaxonomyVersion(name, labels, start)
    steps, changes = _steps(entry, previous, labels, where)
    return TaxonomyVersion(name, labels, start, steps, changes)


def _steps(entry: Mapping[str, Any], previous: TaxonomyVersion, labels: tuple[str, ...],
           where: str) -> tuple[dict[str, tuple[str, ...]], tuple[str, ...]]:
    """Each previous label → the labels it became, checked both ways."""
    old_labels, new_labels = set(previous.labels), set(labels)
    targets: dict[str, tuple[str, ...]] = {}
    relation_of: dict[str, str] = {}
    changes: list[str] = []

    def claim(old: str, relation: str, new: tuple[str, ...]) -> None:
        if old not in old_labels:
            raise InputError(f"{where}: {relation} of {old!r}, which {previous.name} does not "
                             f"have (its labels: {', '.join(previous.labels)})")
        if old in relation_of:
            raise InputError(f"{where}: {old!r} is in {relation_of[old]} and in {relation}; "
                             f"say once what it became")
        for target in new:
            if target not in new_labels:
                raise InputError(f"{where}: {relation} of {old!r} gives {target!r}, which is "
                                 f"not one of its labels; add it to labels")
        relation_of[old] = relation
        targets[old] = new

    for old, new in _relation(entry, "split", where).items():
        into = _labels(new, f"{where}: split of {old!r}", at_least=2)
        claim(old, "split", into)
        changes.append(f"split {old} → {', '.join(into)}")
    for new, olds in _relation(entry, "merge", where).items():
        parts = _labels(olds, f"{where}: merge into {new!r}", at_least=2)
        for old in parts:
            claim(old, "merge", (new,))
        changes.append(f"merge {', '.join(parts)} → {new}")
    for old, new in _relation(entry, "rename", where).items():
        if not isinstance(new, str) or not new.strip() or new.strip() == old:
            raise InputError(f"{where}: rename of {old!r} must give another label, not {new!r}")
        claim(old, "rename", (new.strip(),))
        changes.append(f"rename {old} → {new.strip()}")
    added = _labels(entry.get("add", []), f"{where}: add", at_least=0)
    for old in previous.labels:
        if old in targets:
            continue
        if old not in new_labels:
            raise InputError(f"{where}: {old!r} of {previous.name} is not one of its labels "
                             f"and no split, merge or rename says what it became")
        targets[old] = (old,)
    for old, relation in relation_of.items():
        for target in targets[old]:
            if target in old_labels and target not in relation_of:
                raise InputError(
                    f"{where}: {relation} of {old!r} gives {target!r}, which "
                    f"{previous.name} already has and keeps; to join them, merge them "
                    f'("merge": {{"{target}": ["{target}", "{old}"]}})')
    reached = {t for new in targets.values() for t in new}
    twice = [a for a in added if a in reached]
    if twice:
        raise InputError(f"{where}: {', '.join(map(repr, twice))} is added but also comes "
                         f"from {previous.name}; list it under add only if it is new")
    orphans = [label for label in labels if label not in reached and label not in added]
    if orphans:
        raise InputError(f"{where}: {', '.join(map(repr, orphans))} comes from no label of "
                         f"{previous.name}; say which label it splits from or is renamed "
                         f"from, or list it under add")
    if added:
        changes.append(f"add {', '.join(added)}")
    ordered = {old: targets[old] for old in previous.labels}
    return ordered, tuple(changes)


def _relation(entry: Mapping[str, Any], name: str, where: str) -> Mapping[str, Any]:
    value = entry.get(name, {})
    if not isinstance(value, Mapping):
        example = {"split": '{"car": ["sedan", "suv"]}', "merge": '{"feline": ["cat", "lynx"]}',
                   "rename": '{"bike": "bicycle"}'}[name]
        raise InputError(f"{where}: {name} must be an object like {example}")
    return {str(k).strip(): v for k, v in value.items()}


def _labels(value: Any, where: str, at_least: int = 1) -> tuple[str, ...]:
    """A list of distinct, non-empty labels (numbers are read as their text)."""
    if not isinstance(value, list) or not all(
            isinstance(v, str) or (isinstance(v, int) and not isinstance(v, bool)) for v in value):
        raise InputError(f"{where}: expected a list of labels, not {value!r}")
    labels = tuple(str(v).strip() for v in value)
    if "" in labels:
        raise InputError(f"{where}: a label is empty")
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise InputError(f"{where}: {', '.join(map(repr, repeated))} is listed twice")
    if len(labels) < at_least:
        raise InputError(f"{where}: needs at least {at_least} labels, not {len(labels)}")
    return labels


def _start(value: Any, where: str) -> pd.Timestamp | None:
    if value is None:
        return None
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError):
        stamp = pd.NaT
    if pd.isna(stamp):
        raise InputError(f"{where}: start {value!r} is not a date and time; use ISO 8601, "
                         f"like 2024-03-01T00:00:00Z")
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _check_starts(versions: Sequence[TaxonomyVersion], source: str) -> None:
    if not any(v.start is not None for v in versions):
        return
    for earlier, later in zip(versions, versions[1:], strict=False):
        if later.start is None:
            raise InputError(f"{source}: version {later.name!r} has no start while others do; "
                             f"give every version after the first a start, or none")
        if earlier.start is not None and later.start <= earlier.start:
            raise InputError(f"{source}: version {later.name!r} starts ({later.start}) no later "
                             f"than {earlier.name!r} ({earlier.start}); list versions oldest "
                             f"first")


# ----------------------------------------------------------------- reading votes
def read_versioned_votes(path: str | os.PathLike[str], *, version_column: str | None = None,
                         **read_options: Any) -> VoteMatrix:
    """:func:`~consensus.data.readers.read_votes`, keeping each vote's taxonomy version.

    A table's ``version_column`` (default ``taxonomy_version`` when present) goes to
    ``extras["taxonomy_version"]``, aligned with the votes that were kept. Annotation
    tools' exports have no such column: their votes' times (``created_at``) and the
    versions' start times say the version. ``read_options`` are ``read_votes``'s.
    """
    from .parse import encode_votes, vote_extras
    from .readers import first_data_line, read_table, read_votes, table_format
    from .tools.detect import detect_format

    shape = read_options.pop("format", "auto")
    if shape == "auto":
        named = any(read_options.get(k) is not None for k in ("item", "annotator", "label"))
        shape = detect_format(path, columns_named=named)
    if shape != "table":
        if version_column is not None:
            raise InputError(f"{path}: {option('version_column')} needs a table of votes; "
                             f"give the taxonomy versions start times instead, and the "
                             f"votes' own times say their version")
        return read_votes(path, format=shape, **read_options)
    frame = read_table(path, encode=True)
    first_line = first_data_line(table_format(path))
    table_options = {k: v for k, v in read_options.items() if k in TABLE_OPTIONS}
    column = version_column or VERSION_FIELD
    if column not in frame.columns:
        if version_column is not None:
            raise InputError(f"{path}: no column named {version_column!r} (given for the "
                             f"taxonomy version); columns found: {', '.join(frame.columns)}")
        return VoteMatrix.from_frame(frame, source=str(path), first_line=first_line,
                                     **table_options)
    encoded, rows = encode_votes(frame, source=str(path), first_line=first_line, **table_options)
    extras = vote_extras(frame, rows, str(path), first_line)
    versions = frame[column].astype(object).to_numpy()
    extras[VERSION_FIELD] = versions if rows is None else versions[rows]
    return VoteMatrix(*encoded, extras)


def vote_versions(votes: VoteMatrix, taxonomy: Taxonomy, source: str = "the votes") -> np.ndarray:
    """Index into ``taxonomy.versions`` of the version each vote was made under (n_votes,).

    The ``taxonomy_version`` field wins; votes without one take the version in force
    at their time (``created_at``) when the versions have start times.
    """
    codes = np.full(votes.n_votes, -1, dtype=np.int32)
    named = votes.extras.get(VERSION_FIELD)
    times = votes.extras.get("created_at")
    timed = times is not None and taxonomy.has_starts
    if named is not None:
        text = pd.Series(named, dtype=object)
        text = text.where(text.notna(), "").astype(str).str.strip()
        present = (text != "").to_numpy()
        codes[present] = pd.Index(taxonomy.names).get_indexer(text[present])
        unknown = np.flatnonzero(present & (codes < 0))
        if unknown.size:
            name = text.iloc[unknown[0]]
            raise InputError(f"{source}: {plural(unknown.size, 'vote')} name taxonomy version(s) "
                             f"that {taxonomy.source} does not declare, e.g. {name!r} "
                             f"({_example(votes, unknown[0])}); its versions are "
                             f"{', '.join(taxonomy.names)}")
    elif not timed:
        raise InputError(f"{source}: the votes do not say which taxonomy version they were made "
                         f"under; give them a {VERSION_FIELD} column (or name yours with "
                         f"{option('version_column')}), or give each version in "
                         f"{taxonomy.source} a start time and the votes their times "
                         f"(created_at)")
    missing = np.flatnonzero(codes < 0)
    if missing.size and timed:
        assert times is not None  # timed says so
        codes[missing] = taxonomy.version_at(times[missing], source)
    elif missing.size:
        raise InputError(f"{source}: {plural(missing.size, 'vote')} without a taxonomy version "
                         f"({_example(votes, missing[0])}); fill in {VERSION_FIELD}")
    return codes


def _example(votes: VoteMatrix, position: int) -> str:
    return (f"item {votes.item_ids[votes.item_codes[position]]!s} by annotator "
            f"{votes.annotator_ids[votes.annotator_codes[position]]!s}")


# ------------------------------------------------------------ votes through a taxonomy
@dataclass(frozen=True, eq=False)
class VersionedVotes:
    """Votes read through a taxonomy.

    Attributes
    ----------
    raw : VoteMatrix
        The votes as read, in the labels of every version.
    taxonomy : Taxonomy
    votes : VoteMatrix
        The same votes over *given labels*: the latest labels (latest version's
        order), then one per coarser set of latest labels that an older label covers,
        named ``label@version`` after the first such label.
    membership : ndarray (L, G) float64
        1 where given label g covers latest label l.
    version_codes : ndarray of int32 (n_votes,)
        The version each vote was made under.
    """

    raw: VoteMatrix
    taxonomy: Taxonomy
    votes: VoteMatrix
    membership: np.ndarray
    version_codes: np.ndarray

    @property
    def classes(self) -> np.ndarray:
        """The latest labels: the classes of the consensus."""
        return self.votes.classes[: self.n_classes]

    @property
    def n_classes(self) -> int:
        return int(self.membership.shape[0])

    @property
    def n_items(self) -> int:
        return self.votes.n_items

    @cached_property
    def fingerprint(self) -> str:
        """The votes' content with their versions and the taxonomy's mapping."""
        digest = hashlib.sha1(self.votes.fingerprint.encode(), usedforsecurity=False)
        digest.update(np.ascontiguousarray(self.membership).tobytes())
        return digest.hexdigest()

    @cached_property
    def exact(self) -> np.ndarray:
        """Per vote, whether it names one latest label (not an older, coarser one)."""
        return self.membership.sum(axis=0)[self.votes.label_codes] == 1

    def as_latest(self, label_codes: np.ndarray) -> VoteMatrix:
        """The votes in the latest labels, for tables: a coarse vote reads as the item's
        consensus (``label_codes``, per item) when it covers it, else as the first label
        it covers, so 'agrees with the consensus' means 'covers the consensus'."""
        given = self.votes
        first = self.membership.argmax(axis=0)[given.label_codes]
        consensus = np.asarray(label_codes)[given.item_codes]
        covers = self.membership[consensus, given.label_codes] > 0
        codes = np.where(covers, consensus, first).astype(np.int32)
        extras = {k: v for k, v in given.extras.items() if k != VERSION_FIELD}
        return VoteMatrix(given.item_codes, given.annotator_codes, codes, given.item_ids,
                          given.annotator_ids, self.classes, extras, given.origin)


def map_votes(votes: VoteMatrix, taxonomy: Taxonomy, source: str = "the votes") -> VersionedVotes:
    """Read each vote as the set of latest labels its (version, label) covers.

    A vote whose label is not a label of its version is an error naming the label,
    the version and an example vote.
    """
    versions = vote_versions(votes, taxonomy, source)
    n_raw = votes.n_classes
    pairs, inverse = np.unique(versions.astype(np.int64) * n_raw + votes.label_codes,
                               return_inverse=True)
    given: dict[tuple[int, ...], int] = {(k,): k for k in range(len(taxonomy.latest.labels))}
    names = list(taxonomy.latest.labels)
    pair_given = np.zeros(len(pairs), dtype=np.int32)
    wrong = []
    for p, pair in enumerate(pairs):  # distinct (version, label) pairs: a handful
        v, code = divmod(int(pair), n_raw)
        label = str(votes.classes[code])
        covered = taxonomy.coverage[v].get(label)
        if covered is None:
            wrong.append((p, taxonomy.versions[v], label))
            continue
        if covered not in given:
            given[covered] = len(names)
            names.append(f"{label}@{taxonomy.versions[v].name}")
        pair_given[p] = given[covered]
    if wrong:
        details = []
        for p, version, label in wrong[:5]:
            hits = np.flatnonzero(inverse == p)
            details.append(f"{label!r} under {version.name} ({plural(hits.size, 'vote')}, e.g. "
                           f"{_example(votes, hits[0])}; {version.name} has "
                           f"{', '.join(version.labels)})")
        raise InputError(f"{source}: label(s) not in the taxonomy version the vote was made "
                         f"under: {'; '.join(details)}. Fix the votes' labels or versions, or "
                         f"the taxonomy")
    membership = np.zeros((len(taxonomy.latest.labels), len(names)))
    for covered, g in given.items():
        membership[list(covered), g] = 1.0
    mapped = VoteMatrix(votes.item_codes, votes.annotator_codes,
                        pair_given[inverse.reshape(-1)].astype(np.int32), votes.item_ids,
                        votes.annotator_ids, np.array(names, dtype=object), votes.extras,
                        votes.origin)
    return VersionedVotes(votes, taxonomy, mapped, membership, versions)


def resolve(versioned: VersionedVotes, label_codes: np.ndarray,
            anchored: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Which version's precision each item's consensus has, from its votes alone.

    Latest labels l and l' are *confusable* when some version cannot tell them
    apart (they came from one split label, say). A vote *separates* them when its
    given label covers exactly one of the two. For an item with consensus l, its
    *open* labels are the labels confusable with l that none of its votes
    separates from l: no vote at the finer level chooses between them. The item is
    resolved in the latest version v whose labels cannot tell any open label from
    l either (with no open label, the latest version; if no version qualifies,
    which declared relations seldom allow, the first). Items in ``anchored`` (gold
    or reviewed) are resolved in the latest version.

    Parameters
    ----------
    label_codes : ndarray of int (n_items,)
        The consensus, as codes of the latest labels.
    anchored : ndarray of bool (n_items,), optional

    Returns
    -------
    version : ndarray of int (n_items,)
        Index into ``taxonomy.versions``.
    open_labels : ndarray of bool (n_items, L)
        The labels each item's votes cannot tell from its consensus.
    """
    taxonomy = versioned.taxonomy
    same = taxonomy.indistinguishable
    confusable = np.any(same, axis=0)
    member = versioned.membership > 0
    latest = len(taxonomy.versions) - 1
    label_codes = np.asarray(label_codes)
    version = np.full(versioned.n_items, latest, dtype=np.int64)
    open_labels = np.zeros((versioned.n_items, versioned.n_classes), dtype=bool)
    used: np.ndarray | None = None
    for k in np.flatnonzero(np.any(confusable, axis=1)):
        items = np.flatnonzero(label_codes == k)
        if anchored is not None:
            items = items[~anchored[items]]
        if not items.size:
            continue
        if used is None:
            used = versioned.votes.label_counts > 0  # (n_items, G)
        separates = (member[k][:, None] != member.T).astype(np.float64)  # (G, L)
        unresolved = ((used[items] @ separates) == 0) & confusable[k]
        open_labels[items] = unresolved
        chosen = np.zeros(items.size, dtype=np.int64)
        settled = np.zeros(items.size, dtype=bool)
        for v in range(latest, -1, -1):
            fits = ~(unresolved & ~same[v, k]).any(axis=1) & ~settled
            chosen[fits] = v
            settled |= fits
        version[items] = chosen
    return version, open_labels
