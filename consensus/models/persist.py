"""Fitted models as files, models met by new annotators, and warm starts.

The model file (``.cmodel``), format version 1
----------------------------------------------
A zip archive (any zip tool opens it) of a JSON header and plain arrays:

``header.json`` (UTF-8 JSON)
    ``format`` ``"consensus-model"``, ``format_version`` 1, the ``consensus_version``
    that wrote it, ``created`` (UTC, ISO 8601); ``method``, the method asked for
    (``"auto"`` or a model's name); ``model``: ``{"method", "class", "params"}`` of the
    fitted model (for ``auto`` the one it chose; ``auto`` then holds its own
    ``params``, ``reason`` and ``selection`` table); ``classes``, the label set in
    class order, and ``annotators``, the ids in the order of the arrays' first axis
    (both as text); ``fit``: ``n_iter``, ``converged``, ``log_likelihood`` and what the
    caller adds (items, votes, gold, warm start); ``confidence``: ``correlation``
    (``{"rho"}``) and ``calibrator`` (``{"kind", "temperature", "platt"}``), each
    null when absent; ``arrays``: ``{"sha256", "dtype", "shape"}`` of every array.

``arrays/<name>.npy`` (NumPy ``.npy``, little-endian float64 or bool, never objects)
    ``confusion`` (A, K, K): P(annotator says l | true class k); ``class_priors``
    (K,); ``annotator_votes`` (A,): votes per annotator in the fit;
    ``log_likelihood_history`` (n_iter,); ``held_classes`` (K,), ds and pooled: classes
    held to their votes; ``population_prior`` (K, K), pooled: the crowd's Dirichlet per
    true class; ``concentration`` (A, K, K), pooled and ebcc: each confusion row's
    Dirichlet; ebcc's ``subtype_rows`` (A, K, M, K), ``subtype_weights`` (K, M),
    ``class_concentration`` (K,) and ``row_prior`` (K, M, K); the vote correlation's
    ``correlation_concentration`` and ``correlation_class_weights`` (K,); an isotonic
    calibrator's knots, ``calibration_confidence`` and ``calibration_mapped``.

Nothing in a file is ever executed (JSON, and arrays read with
``allow_pickle=False``): a file from an untrusted source can hold wrong numbers,
not code. Reading checks, in order, that the file is a zip archive with a
consensus header (else it is truncated or not a model file); its format version
(a newer one is refused, naming the consensus that wrote it; an older one goes
through :data:`MIGRATIONS` one version at a time, or is refused); every member's
CRC-32 and every array's SHA-256 against the header (else it was altered or
truncated); and that the arrays' shapes agree with the classes and annotators.

A model read back predicts exactly as the fitted one did (``predict_proba``), but
it keeps no training items: ``posteriors_``, ``labels_`` and the like are absent.
Files hold pooled, ds, one-coin, mv and ebcc models, and auto's choice among them:
their predictions on new votes need nothing else (bwa, mace and glad are refused;
glad would need each new item's difficulty).
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import zipfile
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import __version__
from ..exceptions import InputError
from ..wording import option
from . import METHODS, em, model_class
from .base import Aggregator, EMParameters
from .dawid_skene import BetterThanChance, point_estimates
from .ebcc import EBCC, SubtypePosterior
from .pooled import PooledDawidSkene
from .selection import AutoAggregator

if TYPE_CHECKING:
    from ..data.votes import VoteMatrix
    from ..quality.calibration import Calibrator
    from ..quality.overdispersion import VoteCorrelation

FORMAT = "consensus-model"
FORMAT_VERSION = 1
#: Methods whose fitted models a file can hold (and ``auto``'s choice among them).
SAVED_METHODS = ("pooled", "ds", "one-coin", "mv", "ebcc")
#: Methods that can start from a fitted model (:meth:`EMAggregator.start_from`).
WARM_STARTS = ("pooled", "ds", "one-coin")

Content = tuple[dict[str, Any], dict[str, np.ndarray]]
#: Format version v -> a function turning a version-v file's (header, arrays) into
#: version v + 1's. Version 1 is the first, so there is none yet.
MIGRATIONS: dict[int, Callable[[dict[str, Any], dict[str, np.ndarray]], Content]] = {}


@dataclass(frozen=True, eq=False)
class SavedModel:
    """What a model file holds: the fitted model and what honest confidence needs.

    Attributes
    ----------
    model : Aggregator
        The fitted model, ready for ``predict_proba`` (parameters only, no items).
    method : str
        The method asked for: ``auto``, or the model's own name.
    correlation : VoteCorrelation or None
        The correlated-votes discount measured when the model was fitted.
    calibrator : Calibrator or None
        The calibrator fitted on held-out gold, when there was enough gold.
    header : mapping
        The rest of the header: ``format_version``, ``consensus_version``, ``created``,
        ``fit``.
    source : str
        The file it was read from.
    """

    model: Aggregator
    method: str
    correlation: VoteCorrelation | None = None
    calibrator: Calibrator | None = None
    header: Mapping[str, Any] = field(default_factory=dict)
    source: str = ""

    @property
    def chosen_method(self) -> str:
        """The fitted model's method (auto's choice)."""
        return method_of(self.model)

    @property
    def classes(self) -> list[str]:
        return [str(c) for c in self.model.classes_]


def method_of(model: Aggregator) -> str:
    """The method name a fitted model was made from (auto: its choice)."""
    chosen = getattr(model, "chosen_", None)
    if chosen is not None:
        return str(chosen)
    for name, class_name in METHODS.items():
        if type(model).__name__ == class_name and type(model) is model_class(name):
            return name
    return type(model).__name__


def inner_model(model: Aggregator) -> Aggregator:
    """The model that holds the parameters: auto's chosen one, else ``model``."""
    return model.model_ if isinstance(model, AutoAggregator) else model


def check_savable(method: str) -> None:
    """InputError unless a ``method`` model can be written to a model file."""
    if method != "auto" and method not in SAVED_METHODS:
        raise InputError(
            f"a {method} model cannot be saved: model files hold {', '.join(SAVED_METHODS)} "
            f"models (and auto's choice among them), whose predictions on new votes need only "
            f"what the file keeps; choose one with {option('method', 'pooled')}"
        )


# ------------------------------------------------------------------------ writing
def save_model(
    path: Any,
    model: Aggregator,
    *,
    method: str | None = None,
    correlation: VoteCorrelation | None = None,
    calibrator: Calibrator | None = None,
    fit: Mapping[str, Any] | None = None,
) -> None:
    """Write a fitted model (and its confidence corrections) to ``path``, atomically.

    ``method`` is the method asked for (default: the model's); ``fit`` adds facts
    about the fit to the header (JSON values).
    """
    state, arrays = model_state(model)
    created = datetime.now(timezone.utc).replace(microsecond=0)
    header = {"format": FORMAT, "format_version": FORMAT_VERSION, "consensus_version": __version__,
              "created": created.isoformat().replace("+00:00", "Z"),
              "method": method or ("auto" if isinstance(model, AutoAggregator) else
                                   state["model"]["method"]), **state}
    header["fit"].update(plain(dict(fit or {})))
    header["confidence"] = {"correlation": None, "calibrator": None}
    if correlation is not None:
        header["confidence"]["correlation"] = {"rho": float(correlation.rho)}
        arrays["correlation_concentration"] = correlation.concentration
        arrays["correlation_class_weights"] = correlation.class_weights
    if calibrator is not None:
        header["confidence"]["calibrator"] = {"kind": calibrator.kind,
                                              "temperature": float(calibrator.temperature),
                                              "platt": [float(v) for v in calibrator.platt]}
        if calibrator.knots is not None:
            arrays["calibration_confidence"], arrays["calibration_mapped"] = calibrator.knots
    write_archive(path, header, arrays, created.timetuple()[:6])


def model_state(model: Aggregator) -> Content:
    """The header fields and arrays that describe a fitted model (see the module docstring)."""
    inner = inner_model(model)
    if getattr(inner, "params_", None) is None:
        raise InputError("the model is not fitted; fit it before saving it")
    name = method_of(inner)
    check_savable(name)
    arrays: dict[str, np.ndarray] = {
        "confusion": inner.confusion_, "class_priors": inner.class_priors_,
        "annotator_votes": inner.annotator_votes_,
        "log_likelihood_history": inner.log_likelihood_history_,
    }
    if isinstance(inner, BetterThanChance):
        arrays["held_classes"] = getattr(inner, "held_classes_",
                                         np.zeros(len(inner.classes_), dtype=bool))
    if inner.params_.concentration is not None:
        arrays["concentration"] = inner.params_.concentration
    if isinstance(inner, PooledDawidSkene):
        arrays["population_prior"] = inner.population_prior_
    if isinstance(inner, EBCC):
        posterior = inner.variational_
        arrays.update(subtype_rows=posterior.rows, subtype_weights=posterior.subtypes,
                      class_concentration=posterior.classes, row_prior=inner.row_prior_)
    header: dict[str, Any] = {
        "model": {"method": name, "class": type(inner).__name__,
                  "params": plain(inner.get_params())},
        "classes": [str(c) for c in inner.classes_],
        "annotators": [str(a) for a in inner.annotator_ids_],
        "fit": {"n_iter": int(inner.n_iter_), "converged": bool(inner.converged_),
                "log_likelihood": float(inner.log_likelihood_)},
    }
    if isinstance(model, AutoAggregator):
        header["auto"] = plain({"params": model.get_params(), "reason": model.reason_,
                                "selection": model.selection_.to_dict("records")})
    return header, arrays


def plain(value: Any) -> Any:
    """``value`` as JSON: numpy scalars as numbers, tuples as lists, NaN and inf as null."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def write_archive(path: Any, header: dict[str, Any], arrays: Mapping[str, np.ndarray],
                  stamp: tuple[int, ...]) -> None:
    """The zip archive: ``header.json`` (with every array's checksum) and one ``.npy``
    member per array, written to a temporary file and renamed into place."""
    from ..data.writers import atomic_path

    members = {}
    for name in sorted(arrays):
        array = np.asarray(arrays[name])
        array = np.ascontiguousarray(array, dtype=bool if array.dtype == bool else "<f8")
        buffer = io.BytesIO()
        np.lib.format.write_array(buffer, array, allow_pickle=False)
        members[f"arrays/{name}.npy"] = data = buffer.getvalue()
        header.setdefault("arrays", {})[name] = {
            "sha256": hashlib.sha256(data).hexdigest(), "dtype": array.dtype.str,
            "shape": list(array.shape)}
    text = json.dumps(header, indent=1, ensure_ascii=False, allow_nan=False).encode("utf-8")
    with atomic_path(path) as tmp_name, zipfile.ZipFile(tmp_name, "w") as archive:
        for name, data in [("header.json", text), *members.items()]:
            info = zipfile.ZipInfo(name, date_time=stamp)  # type: ignore[arg-type]
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)


# ------------------------------------------------------------------------ reading
def load_model(path: Any) -> SavedModel:
    """Read a model file, checking its checksums and format version (see the module
    docstring); InputError saying what is wrong and what to do otherwise."""
    name = str(path)
    header, arrays = read_archive(path)
    version = header["format_version"]
    while version < FORMAT_VERSION:
        header, arrays = MIGRATIONS[version](header, arrays)
        version = header["format_version"] = version + 1
    try:
        return restore(header, arrays, name)
    except InputError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"{name}: the model file is inconsistent ({type(exc).__name__}: "
                         f"{exc}); it was altered, or written by a faulty program") from None


def read_archive(path: Any) -> Content:
    """Header and arrays of a model file, every check of the module docstring passed."""
    name = str(path)
    damaged = f"{name}: the model file was altered or truncated"
    try:
        archive = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise InputError(f"{name}: no such model file") from None
    except (zipfile.BadZipFile, OSError, EOFError):
        raise InputError(f"{name}: not a consensus model file, or a truncated one (not a "
                         f"readable zip archive); save the model again") from None
    with archive:
        try:
            header = json.loads(archive.read("header.json"))
        except KeyError:
            raise InputError(f"{name}: not a consensus model file (no header.json)") from None
        except (zipfile.BadZipFile, zlib.error, EOFError, ValueError):
            raise InputError(f"{damaged} (header.json fails its checksum); save the model "
                             f"again") from None
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise InputError(f"{name}: not a consensus model file (its header names no "
                             f"{FORMAT} format)")
        check_version(header, name)
        listed = header.get("arrays")
        if not isinstance(listed, dict) or not all(isinstance(e, dict) for e in listed.values()):
            raise InputError(f"{damaged} (its header lists no arrays)")
        arrays = {}
        for key, entry in listed.items():
            member = f"arrays/{key}.npy"
            try:
                data = archive.read(member)
            except KeyError:
                raise InputError(f"{damaged} ({member} is missing); save the model "
                                 f"again") from None
            except (zipfile.BadZipFile, zlib.error, EOFError):
                raise InputError(f"{damaged} ({member} fails its CRC-32 checksum); save the "
                                 f"model again") from None
            if hashlib.sha256(data).hexdigest() != entry.get("sha256"):
                raise InputError(f"{damaged} (the SHA-256 checksum of {member} does not match "
                                 f"the header); save the model again")
            try:
                array = np.load(io.BytesIO(data), allow_pickle=False)
            except (ValueError, OSError, EOFError):
                raise InputError(f"{damaged} ({member} is no plain .npy array)") from None
            if array.dtype.str != entry.get("dtype") or list(array.shape) != entry.get("shape"):
                raise InputError(f"{damaged} ({member} is not the array the header lists)")
            arrays[key] = array
    return header, arrays


def check_version(header: Mapping[str, Any], name: str) -> None:
    """Refuse a format version this consensus cannot read or migrate, saying what to do."""
    version = header.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise InputError(f"{name}: not a consensus model file (format version {version!r})")
    writer = header.get("consensus_version", "an unknown version")
    if version > FORMAT_VERSION:
        raise InputError(
            f"{name}: model format version {version}, written by consensus {writer}; this is "
            f"consensus {__version__}, which reads format {FORMAT_VERSION} and older: upgrade "
            f"consensus to read it")
    missing = [v for v in range(version, FORMAT_VERSION) if v not in MIGRATIONS]
    if missing:
        raise InputError(
            f"{name}: model format version {version} (written by consensus {writer}) cannot "
            f"be read or migrated by consensus {__version__}, which reads format "
            f"{FORMAT_VERSION}; fit the model again and save it")


def restore(header: Mapping[str, Any], arrays: Mapping[str, np.ndarray], name: str) -> SavedModel:
    """The SavedModel a checked header and its arrays describe."""
    spec = header["model"]
    method = str(spec["method"])
    if method not in SAVED_METHODS:
        raise InputError(f"{name}: holds a {method} model, which consensus {__version__} "
                         f"does not read")
    inner = with_params(model_class(method), spec["params"], name)
    classes = np.array([str(c) for c in header["classes"]], dtype=object)
    annotators = np.array([str(a) for a in header["annotators"]], dtype=object)
    n, k = len(annotators), len(classes)

    def array(key: str, shape: tuple[int, ...]) -> np.ndarray:
        value = arrays[key]
        if value.shape != shape:
            raise ValueError(f"{key} has shape {value.shape}, not {shape}")
        return value

    params = point_estimates(array("confusion", (n, k, k)), array("class_priors", (k,)))
    if "concentration" in arrays:
        params = replace(params, concentration=array("concentration", (n, k, k)))
    if isinstance(inner, PooledDawidSkene):
        params = replace(params, hyper=array("population_prior", (k, k)))
    fit = dict(header["fit"])
    inner.params_, inner.confusion_, inner.class_priors_ = params, params.confusion, \
        params.class_priors
    inner.classes_, inner.annotator_ids_ = classes, annotators
    inner.annotator_votes_ = array("annotator_votes", (n,))
    inner.votes_fingerprint_ = ""  # no votes are taken for the training votes
    inner.n_iter_, inner.converged_ = int(fit["n_iter"]), bool(fit["converged"])
    inner.log_likelihood_ = float(fit["log_likelihood"])
    inner.log_likelihood_history_ = arrays["log_likelihood_history"]
    if isinstance(inner, BetterThanChance):
        inner.held_classes_ = array("held_classes", (k,))
    if isinstance(inner, EBCC):
        weights = arrays["subtype_weights"]
        m = weights.shape[1]
        inner.variational_ = SubtypePosterior(array("subtype_rows", (n, k, m, k)),
                                              array("subtype_weights", (k, m)),
                                              array("class_concentration", (k,)))
        inner.row_prior_ = array("row_prior", (k, m, k))
        inner.elbo_ = inner.log_likelihood_
    model = inner
    if header["method"] == "auto":
        auto_spec = header["auto"]
        model = with_params(AutoAggregator, auto_spec["params"], name)
        import pandas as pd

        model.reason_ = str(auto_spec["reason"])
        selection = pd.DataFrame(auto_spec["selection"])
        for column in selection.columns:  # JSON's null back to NaN in numeric columns
            if selection[column].map(lambda v: v is None or isinstance(v, float)).all():
                selection[column] = selection[column].astype(float)
        model.selection_ = selection
        adopt(model, inner, method)
    return SavedModel(model, str(header["method"]), *confidence(header, arrays, k),
                      header={key: header[key] for key in ("format_version", "consensus_version",
                                                           "created", "fit")},
                      source=name)


def confidence(header: Mapping[str, Any], arrays: Mapping[str, np.ndarray],
               n_classes: int) -> tuple[VoteCorrelation | None, Calibrator | None]:
    """The saved vote correlation and calibrator, when there are."""
    from ..quality.calibration import Calibrator
    from ..quality.overdispersion import VoteCorrelation

    saved = header["confidence"]
    correlation = calibrator = None
    if saved["correlation"] is not None:
        correlation = VoteCorrelation(float(saved["correlation"]["rho"]),
                                      arrays["correlation_concentration"].reshape(n_classes),
                                      arrays["correlation_class_weights"].reshape(n_classes))
    if saved["calibrator"] is not None:
        spec = saved["calibrator"]
        knots = None
        if "calibration_confidence" in arrays:
            knots = (arrays["calibration_confidence"], arrays["calibration_mapped"])
        slope, intercept = spec["platt"]
        calibrator = Calibrator(str(spec["kind"]), float(spec["temperature"]),
                                (float(slope), float(intercept)), knots)
    return correlation, calibrator


def with_params(cls: type[Any], params: Mapping[str, Any], name: str) -> Any:
    """An unfitted ``cls`` with saved parameters (lists back to tuples where the default is one)."""
    model = cls()
    defaults = model.get_params()
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise InputError(f"{name}: the saved {cls.__name__} has parameter(s) "
                         f"{', '.join(unknown)}, unknown to consensus {__version__}: upgrade "
                         f"consensus to read it")
    return model.set_params(**{
        key: tuple(value) if isinstance(defaults[key], tuple) and isinstance(value, list)
        else value for key, value in params.items()})


def adopt(auto: AutoAggregator, model: Aggregator, chosen: str) -> None:
    """Make ``auto`` a fitted auto model that chose ``model``, as its fit does."""
    auto.chosen_, auto.model_ = chosen, model
    for key, value in vars(model).items():
        if key.endswith("_") and not key.startswith("_"):
            setattr(auto, key, value)


# ------------------------------------------------------------ new annotators, warm starts
def positions(known: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Row of each of ``ids`` among ``known`` ids (compared as text), -1 where absent."""
    import pandas as pd

    return np.asarray(pd.Index([str(a) for a in known]).get_indexer([str(a) for a in ids]))


def with_annotators(model: Aggregator, annotator_ids: Sequence[Any] | np.ndarray) -> Aggregator:
    """``model``, knowing also those of ``annotator_ids`` it never saw, at its population prior.

    A pooled model gives each new annotator the confusion its fit gives one with no
    votes (the mean of its learned crowd prior); ebcc gives each its rows' prior. Other
    models have no population prior and are returned as they are: their
    ``predict_proba`` weighs unseen annotators by the crowd's vote-weighted average.
    ``model`` itself is not changed.
    """
    inner = inner_model(model)
    ids = np.asarray(annotator_ids, dtype=object)
    new = list(dict.fromkeys(str(a) for a in ids[positions(inner.annotator_ids_, ids) < 0]))
    if not new or not isinstance(inner, (PooledDawidSkene, EBCC)):
        return model
    extended = copy.copy(inner)
    if isinstance(inner, PooledDawidSkene):
        alpha = inner.population_prior_
        # the pooled M-step's concentration for an annotator without votes
        prior = (inner.prior_strength * len(alpha)) * alpha / alpha.sum(axis=1, keepdims=True) \
            + inner.smoothing
        rows = np.repeat(prior[None], len(new), axis=0)
        confusion = rows / rows.sum(axis=2, keepdims=True)
    else:
        assert isinstance(extended, EBCC)
        fitted, beta = inner.variational_, inner.row_prior_
        fresh = SubtypePosterior(np.repeat(beta[None], len(new), axis=0), fitted.subtypes,
                                 fitted.classes)
        extended.variational_ = SubtypePosterior(
            np.concatenate([fitted.rows, fresh.rows]), fitted.subtypes, fitted.classes)
        confusion = fresh.marginal_confusion()
        # ebcc's marginal rows' Dirichlet (see EBCC._store) with the prior for the rows
        rows = np.repeat(beta.mean(axis=1)[None], len(new), axis=0)
    params = inner.params_
    extended.params_ = replace(
        params, confusion=np.concatenate([params.confusion, confusion]),
        log_weights=np.concatenate([params.log_weights,
                                    em.log_weights_from_confusion(em.safe_log(confusion))]),
        concentration=None if params.concentration is None
        else np.concatenate([params.concentration, rows]))
    extended.confusion_ = extended.params_.confusion
    extended.annotator_ids_ = np.concatenate([inner.annotator_ids_, np.array(new, dtype=object)])
    extended.annotator_votes_ = np.concatenate([inner.annotator_votes_, np.zeros(len(new))])
    if not isinstance(model, AutoAggregator):
        return extended
    outer = copy.copy(model)
    adopt(outer, extended, model.chosen_)
    return outer


@dataclass(frozen=True, eq=False)
class WarmStart:
    """Where a fit that starts from an earlier model begins (see :func:`warm_start`).

    Attributes
    ----------
    posteriors : ndarray (n_items, K)
        The items' posteriors under the earlier model, in the votes' class order.
    previous : EMParameters
        What the first M-step is handed: the earlier confusion matrices of the votes'
        annotators (uniform rows for those it cannot place), the pooled crowd prior in
        ``hyper`` (pooled to pooled) and the history prior in ``history`` (None at
        weight 0).
    known : ndarray of bool (n_annotators,)
        Which of the votes' annotators the earlier model knew.
    """

    posteriors: np.ndarray
    previous: EMParameters
    known: np.ndarray


def check_warm_start(target: Aggregator, history_weight: float) -> None:
    """InputError unless ``target`` can start from a fitted model with this weight."""
    if method_of(target) not in WARM_STARTS:
        raise InputError(f"{type(target).__name__} cannot start from a fitted model; the "
                         f"methods that can are {', '.join(WARM_STARTS)}")
    weight = history_weight
    if not isinstance(weight, (int, float, np.number)) or not np.isfinite(weight) or weight < 0:
        raise InputError(f"history_weight must be a non-negative number of votes, not "
                         f"{history_weight!r}")


def warm_start_method(method: str, model: Aggregator, source: str) -> str:
    """The method a fit starting from ``model`` uses: ``method``, or for ``auto`` the one
    ``model`` was fitted with (so the earlier choice stands and no new one is made)."""
    fitted = method_of(model)
    chosen = fitted if method == "auto" else method
    if chosen in WARM_STARTS:
        return chosen
    if method == "auto":
        raise InputError(
            f"{source} holds a {fitted} model, and only {', '.join(WARM_STARTS)} can start "
            f"from a fitted model: name one with {option('method', 'pooled')} to start it from "
            f"these confusion matrices, or fit without a model to start from")
    raise InputError(f"method {method!r} cannot start from a fitted model; the methods that "
                     f"can are {', '.join(WARM_STARTS)}")


def warm_start(model: Aggregator, votes: VoteMatrix, history_weight: float,
               target: Aggregator) -> WarmStart:
    """Where ``target``'s fit on ``votes`` starts when it starts from ``model``.

    The items' posteriors under ``model`` (annotators matched by id, new ones at its
    population prior; a label ``model`` does not know is an InputError naming it),
    and, with ``history_weight`` W > 0, each known annotator's confusion as W votes
    (:func:`consensus.models.em.history_counts`).
    """
    if getattr(model, "params_", None) is None:
        raise InputError("the model to start from is not fitted")
    check_warm_start(target, history_weight)
    inner = inner_model(model)
    extended = inner_model(with_annotators(model, votes.annotator_ids))
    proba = extended.predict_proba(votes)  # checks the labels
    column = positions(inner.classes_, votes.classes)
    posteriors = proba[:, column]
    total = posteriors.sum(axis=1, keepdims=True)
    posteriors = np.where(total > 0, posteriors / np.where(total > 0, total, 1.0),
                          1.0 / votes.n_classes)
    priors = inner.class_priors_[column] / inner.class_priors_[column].sum()
    row = positions(extended.annotator_ids_, votes.annotator_ids)
    confusion = np.full((votes.n_annotators, votes.n_classes, votes.n_classes),
                        1.0 / votes.n_classes)
    placed = row >= 0
    confusion[placed] = extended.confusion_[row[placed]][:, column][:, :, column]
    known = positions(inner.annotator_ids_, votes.annotator_ids) >= 0
    history = None
    if history_weight > 0:
        history = em.history_counts(np.where(known[:, None, None], confusion, 0.0), priors,
                                    float(history_weight))
    hyper = None
    if isinstance(inner, PooledDawidSkene) and isinstance(target, PooledDawidSkene):
        hyper = inner.population_prior_[np.ix_(column, column)]
    previous = replace(point_estimates(confusion, priors), hyper=hyper, history=history)
    return WarmStart(posteriors, previous, known)
