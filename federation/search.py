"""Federated search for licensed professionals (DESIGN.md §4 registry paths, §6.3; docs/federation.md).

Python API (the registry's endpoints, its search page and the node endpoint call it):

* `search(endpoint, params, subject, mode=None) -> SearchAnswer` — `endpoint` is "directory" or
  "referentials"; `subject` must be a licensed professional who accepted the registry's terms
  (else `SearchRefused(code, detail)`, a 403 with the decision point's reason — checked first);
  `params` the query parameters (validated here: `rest_framework` `ValidationError`
  `{field: [French message]}`, a 400 naming the field); `mode` overrides `params["mode"]`
  ("index", the default, or "live").
* `ensure_may_search(subject)` / `refusal(subject)` — that gate alone (a page shows the reason at once).
* `search_node(endpoint, params, subject, reader=)` — (any node) the same search over this node's
  own records only, for a registry's live fan-out (`POST /api/v1/federation/search`).
* `FILTERS` — the filters of each endpoint / referential type, with French labels, for forms;
  `PURPOSE_FILTER`, `MODE_FILTER`, `TYPE_FILTER` describe the common parameters.

What is searched
----------------
The federation index (`federation.models.IndexedRecord`): the registry's replicas of every member's
change feed, plus each node's own records (`federation.replication.index_local`, run first). A row
shows only while it is not a tombstone marker (`data` = {}) and not past `expires_at` (a consent's
end). Matching is accent- and case-insensitive: `q` is folded like the directory's search index
(`dataspace.directory.vocabulary.fold`) and every word must occur in the row's folded `text`
(`federation.index`) — a plain `LIKE`, the same on SQLite and PostgreSQL; results are ordered by
that folded text too (so « Éloïse » sorts with the E's on both). Codes (trades, languages, venue
types, organisation kinds, disciplines of an organisation) are matched in the replicated
representation itself (`data`), so they only ever match what its origin published (for a person:
what the consent covers); a skill matches one published skill whole, as in the directory's own
search. Stage dimensions are read from the technical sheets the subject may search (never from
the copy a hall's row carries), a performance is named after its production as the subject may see
it.

Policies (decided once per policy and subject, then one SQL condition)
--------------------------------------------------------------------
Every row is governed like the origin would govern it: the record's override policy, else the
owner's dataset policy, else the default (public for the referentials). For this node's own rows
the policies are the node's own (`policies.pdp.policy_index`, with its hidden records, blocks and
daily counters); for other origins, the replicated policy records (`IndexedRecord` of type
"policy", data = the policy's feed representation with its ODRL document) are compiled with
`policies.odrl.parse_odrl` (a document outside the profile denies everything: fail closed) and
keyed by (origin, owner, dataset) and (origin, record). Each policy is evaluated once for the
subject with `policies.pdp.evaluate` (action "search", the declared purpose) and the permits and
denies become one `Q` over (origin, owner, record id), like `pdp.filter_queryset` does for local
lists. Auxiliary rows a filter reads (a hall's technical sheet, a performance's venue) are filtered
the same way: a restricted record is never used to answer a criterion either.

A person's directory entry follows its own rule, not an owner's policy: shown only with a consent
in force (`expires_at`), whose purposes cover the declared purpose (`CONSENT_PURPOSES`: the
directory consent "professional_directory" covers every professional purpose), to a licensed
professional; on its origin node also only while the local consent is in force. Hidden and blocked
records never arrive from other origins (their feed is filtered for the registry); on this node's
own rows the node's controls apply.

Answer
------
`{"mode", "type", "count", "results": [...], "nodes": [...], "next"}`. A result is
`{"id": URI, "type", "title", "owner": {"id", "name"}, "origin", "policy": {"uid", "text"},
"attribution", "version", "record": <origin's representation>, "sources": [URI…]}`; productions add
`"performances"` (every visible performance of the group, with hall and venue), performances add
`"production"` and `"venue"`. The same URI appears once; productions sharing a `dedupe_key` (the
same show seen through several nodes) are one result carrying every source URI and every
performance. `nodes` gives each node's status: "ok", "timeout", "error" or "denied", with `ms`,
`count`, `detail` (French) and `as_of` (index: the last successful replication; live: now).

Live mode
---------
The registry asks every trusted member with role "structure" in parallel (one thread each) with
`POST {node}/api/v1/federation/search` — signed (RFC 9421), with the registry's token for the
node (scope "directory:search" or "referentials:read") and the professional's attestation
(`federation.attestation`, header `On-Behalf-Of`) — and searches its own records meanwhile. It
waits at most FEDERATION_SEARCH_TIMEOUT seconds in all: a node that has not answered by then is
"timeout" and its late answer is dropped (the thread ends with its own HTTP timeout; nothing waits
for it). Results are merged (each node's list consumed in order), deduplicated, and paginated with
one offset per node in the cursor. A node's answer may only carry records of its own origin.

Journal
-------
Each search writes one entry (action "federation.search", its filters, count and node statuses);
every person found gets an entry of their own (`subject_person_id`, as the directory's list does,
so the person's portal shows it), and referential results whose policy asks for it one entry per
owner. A node answering a live search journals the same way for the professional of the attestation.
"""

from __future__ import annotations

import base64
import binascii
import concurrent.futures
import datetime as dt
import decimal
import hashlib
import json
import re
import threading
import time
import uuid
import zoneinfo
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from django.conf import settings
from django.db import connections
from django.db.models import CharField, Count, F, Min, OuterRef, Q, QuerySet, Subquery, TextField, Value
from django.db.models.fields.json import KeyTextTransform, KeyTransform
from django.db.models.functions import Cast, Coalesce, Concat, NullIf
from django.db.models.lookups import Contains
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework.exceptions import ValidationError

from dataspace.directory.vocabulary import LANGUAGES, Region, Trade, fold
from dataspace.referentials.models import Discipline, Organisation, Venue
from federation.index import token as index_token
from federation.models import IndexedAvailability, IndexedRecord, Peer, SyncState
from policies import pdp
from policies.decision import Decision
from policies.enforcement import actor_for, parse_purpose
from policies.language import PURPOSES, PolicyDoc
from policies.subject import Subject

Endpoint = Literal["directory", "referentials"]

ENDPOINTS: tuple[str, ...] = ("directory", "referentials")
REFERENTIAL_TYPES: tuple[str, ...] = ("production", "performance", "venue", "hall", "programmer")
MODES: tuple[str, ...] = ("index", "live")
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
#: The scope a token needs on each endpoint (and the scope the registry's token carries to a node).
SCOPES: dict[str, str] = {"directory": "directory:search", "referentials": "referentials:read"}
#: The path of the node endpoint a registry's live search calls.
NODE_SEARCH_PATH = "/api/v1/federation/search"
#: The action policies are evaluated for.
ACTION = "search"
ENTRY = "directory-entry"
#: Trade codes (dataspace.directory.vocabulary.Trade) of the persons a "programmer" search finds.
PROGRAMMER_TRADES: tuple[str, ...] = (Trade.PROGRAMMER.value,)
#: Organisation kinds that programme shows (theatres, opera houses, festivals, music venues): the
#: organisations a "programmer" search finds. Companies, producers and public bodies do not.
PROGRAMMING_KINDS: tuple[str, ...] = (
    Organisation.Kind.THEATRE.value,
    Organisation.Kind.OPERA.value,
    Organisation.Kind.FESTIVAL.value,
    Organisation.Kind.MUSIC_VENUE.value,
)
#: Consent purposes (dataspace.consent.vocabulary) → the search purposes (policies.language.PURPOSES)
#: they cover. Publication in the professional directory is consented to for professional use.
CONSENT_PURPOSES: dict[str, frozenset[str]] = {"professional_directory": frozenset(PURPOSES)}
#: Members of a result that travel between nodes but are not part of the registry's answer.
_INTERNAL = ("dedupe_key", "sort")
_DEPARTEMENT = re.compile(r"^(?:\d{2,3}|2[AB])$")
_MAX_TEXT = 200
_MAX_DECIMAL = decimal.Decimal(100000)
#: How much of a row's folded text travels as its sort key between nodes (live mode).
_SORT_LENGTH = 120


# ---------------------------------------------------------------------------- filters (forms)


@dataclass(frozen=True)
class Filter:
    """One search parameter as a form shows it: name, French label, kind, choices (value, label)."""

    name: str
    label: Any
    kind: Literal["text", "date", "decimal", "choice", "bool"]
    choices: tuple[tuple[str, Any], ...] = ()
    help: Any = ""


_Q = Filter("q", gettext_lazy("Texte libre"), "text", help=gettext_lazy("Accents et majuscules indifférents."))
_REGION = Filter("region", gettext_lazy("Région"), "choice", tuple(Region.choices))
_DEPT = Filter("departement", gettext_lazy("Département"), "text", help=gettext_lazy("Numéro : 35, 69, 2A…"))
_DISCIPLINE = Filter("discipline", gettext_lazy("Discipline"), "choice", tuple(Discipline.choices))
_FROM = Filter("from", gettext_lazy("À partir du"), "date")
_TO = Filter("to", gettext_lazy("Jusqu'au"), "date")
_VENUE_TYPE = Filter("venue_type", gettext_lazy("Type de lieu"), "choice", tuple(Venue.VenueType.choices))
_TECHNICAL = (
    Filter("min_capacity", gettext_lazy("Jauge minimale (places)"), "decimal"),
    Filter("min_proscenium_opening", gettext_lazy("Ouverture au cadre minimale (m)"), "decimal"),
    Filter("min_height_under_grid", gettext_lazy("Hauteur sous gril minimale (m)"), "decimal"),
    Filter("min_stage_width", gettext_lazy("Ouverture du plateau minimale (m)"), "decimal"),
    Filter("min_stage_depth", gettext_lazy("Profondeur du plateau minimale (m)"), "decimal"),
)

#: The filters of each endpoint ("directory") and referential type, in form order (`q` first).
FILTERS: dict[str, list[Filter]] = {
    "directory": [
        _Q,
        Filter("trade", gettext_lazy("Métier"), "choice", tuple(Trade.choices)),
        Filter("skill", gettext_lazy("Compétence"), "text"),
        _REGION,
        Filter("language", gettext_lazy("Langue"), "choice", tuple((code, code) for code in sorted(LANGUAGES))),
        Filter(
            "available_from",
            gettext_lazy("Disponible du"),
            "date",
            help=gettext_lazy("Une période de disponibilité couvre toute la fenêtre demandée."),
        ),
        Filter("available_to", gettext_lazy("Disponible jusqu'au"), "date"),
    ],
    "production": [
        _Q,
        _DISCIPLINE,
        _REGION,
        _DEPT,
        _FROM,
        _TO,
        Filter(
            "on_tour",
            gettext_lazy("En tournée"),
            "bool",
            help=gettext_lazy("Joué dans au moins deux lieux, ou connu de deux nœuds au moins."),
        ),
    ],
    "performance": [_Q, _DISCIPLINE, _REGION, _DEPT, _FROM, _TO, _VENUE_TYPE],
    "venue": [_Q, _REGION, _DEPT, _VENUE_TYPE, *_TECHNICAL],
    "hall": [_Q, _REGION, _DEPT, _VENUE_TYPE, *_TECHNICAL],
    "programmer": [_Q, _DISCIPLINE, _REGION, _DEPT],
}
PURPOSE_FILTER = Filter(
    "purpose",
    gettext_lazy("Finalité"),
    "choice",
    (
        ("programming", gettext_lazy("programmation")),
        ("touring", gettext_lazy("diffusion et tournées")),
        ("contracting", gettext_lazy("contractualisation")),
        ("reporting", gettext_lazy("déclarations et bilans")),
        ("research", gettext_lazy("recherche et études")),
        ("communication", gettext_lazy("communication")),
    ),
)
MODE_FILTER = Filter(
    "mode",
    gettext_lazy("Mode"),
    "choice",
    (
        ("index", gettext_lazy("index du registre (rapide)")),
        ("live", gettext_lazy("interrogation directe des nœuds")),
    ),
)
TYPE_FILTER = Filter(
    "type",
    gettext_lazy("Que cherchez-vous ?"),
    "choice",
    (
        ("production", gettext_lazy("spectacles")),
        ("performance", gettext_lazy("représentations")),
        ("venue", gettext_lazy("lieux")),
        ("hall", gettext_lazy("salles")),
        ("programmer", gettext_lazy("programmateurs")),
    ),
)
_ALL_FILTERS: dict[str, Filter] = {f.name: f for filters in FILTERS.values() for f in filters}
_ENDPOINT_FILTERS: dict[str, frozenset[str]] = {
    "directory": frozenset(f.name for f in FILTERS["directory"]),
    "referentials": frozenset(f.name for t in REFERENTIAL_TYPES for f in FILTERS[t]),
}


# ---------------------------------------------------------------------------- errors and answers


class SearchRefused(Exception):
    """The subject may not search (403): `code` is a decision point reason code, `detail` French."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


@dataclass
class SearchAnswer:
    """A search's answer; `as_json()` is the HTTP answer body."""

    mode: str
    type: str
    count: int
    results: list[dict[str, Any]]
    nodes: list[dict[str, Any]]
    next: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "type": self.type,
            "count": self.count,
            "results": self.results,
            "nodes": self.nodes,
            "next": self.next,
        }


# ---------------------------------------------------------------------------- parameters


@dataclass(frozen=True)
class SearchQuery:
    """Validated parameters. `given` keeps the filters as sent (forwarded to nodes in live mode)."""

    endpoint: str
    type: str
    purpose: str
    mode: str
    words: tuple[str, ...]
    page_size: int
    cursor: str
    filters: Mapping[str, Any]
    given: Mapping[str, str]

    @property
    def record_types(self) -> tuple[str, ...]:
        if self.type == "directory":
            return (ENTRY,)
        if self.type == "programmer":
            return (ENTRY, "organisation")
        return (self.type,)

    def fingerprint(self) -> str:
        """What a cursor is bound to (the same search, whatever its page size)."""
        canonical = json.dumps(
            {"e": self.endpoint, "t": self.type, "p": self.purpose, "g": dict(sorted(self.given.items()))},
            sort_keys=True,
            separators=(",", ":"),
        )
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def node_params(self, offset: int) -> dict[str, str]:
        """The parameters a node is asked with (its own page from `offset`)."""
        params = {**self.given, "purpose": self.purpose, "page_size": str(self.page_size)}
        if self.endpoint == "referentials":
            params["type"] = self.type
        if offset:
            params["cursor"] = encode_cursor({"m": "index", "h": self.fingerprint(), "o": offset})
        return params


def _invalid(name: str, message: str) -> ValidationError:
    return ValidationError({name: [message]})


def _text_param(raw: str, name: str) -> str:
    value = " ".join(raw.split())
    if len(value) > _MAX_TEXT:
        raise _invalid(name, _("%(max)s caractères au plus.") % {"max": _MAX_TEXT})
    return value


def _date_param(raw: str, name: str) -> dt.date:
    try:
        return dt.date.fromisoformat(raw.strip())
    except ValueError:
        raise _invalid(name, _("Date attendue au format AAAA-MM-JJ (ex. 2027-03-14).")) from None


def _decimal_param(raw: str, name: str) -> decimal.Decimal:
    try:
        value = decimal.Decimal(raw.strip().replace(",", "."))
    except decimal.InvalidOperation:
        value = decimal.Decimal(-1)
    if not value.is_finite() or value < 0 or value > _MAX_DECIMAL:
        raise _invalid(name, _("Nombre positif attendu (ex. 9,5)."))
    return value


def _bool_param(raw: str, name: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on", "oui", "vrai"):
        return True
    if value in ("0", "false", "no", "off", "non", "faux"):
        return False
    raise _invalid(name, _("true ou false attendu."))


def _choice_param(raw: str, name: str, allowed: Iterable[str]) -> str:
    value = raw.strip()
    choices = list(allowed)
    if value not in choices:
        raise _invalid(
            name,
            _("Valeur inconnue « %(value)s » ; valeurs possibles : %(choices)s.")
            % {"value": value, "choices": ", ".join(choices)},
        )
    return value


def _region_param(raw: str, name: str) -> str:
    known = {fold(value): value for value in Region.values}
    value = known.get(fold(raw))
    if value is None:
        raise _invalid(
            name,
            _("Région inconnue « %(value)s » ; régions : %(choices)s.")
            % {"value": raw, "choices": ", ".join(Region.values)},
        )
    return value


def _parse_filter(name: str, raw: str) -> Any:
    if name == "trade":
        return _choice_param(raw, name, Trade.values)
    if name in ("skill",):
        return fold(_text_param(raw, name))
    if name == "region":
        return _region_param(raw, name)
    if name == "language":
        return _choice_param(raw.lower(), name, sorted(LANGUAGES))
    if name in ("available_from", "available_to", "from", "to"):
        return _date_param(raw, name)
    if name == "departement":
        value = raw.strip().upper()
        if not _DEPARTEMENT.match(value):
            raise _invalid(name, _("Numéro de département attendu (ex. 35, 975, 2A)."))
        return value
    if name == "discipline":
        return _choice_param(raw, name, Discipline.values)
    if name == "venue_type":
        return _choice_param(raw, name, Venue.VenueType.values)
    if name.startswith("min_"):
        return _decimal_param(raw, name)
    if name == "on_tour":
        return _bool_param(raw, name)
    raise _invalid(name, _("Filtre inconnu."))  # pragma: no cover - every known name is handled above


def _query_words(raw: str) -> tuple[str, ...]:
    text = fold(_text_param(raw, "q"))
    return tuple(dict.fromkeys(word for word in re.split(r"[\s|=]+", text) if word))


def validate(endpoint: str, params: Mapping[str, Any], *, mode: str | None = None) -> SearchQuery:
    """The validated query (400 naming the parameter at fault; empty parameters are ignored)."""
    if endpoint not in ENDPOINTS:
        raise ValueError(f"unknown endpoint {endpoint!r}")

    def value(name: str) -> str:
        raw = params.get(name)
        return str(raw).strip() if raw is not None else ""

    purpose_raw = value("purpose")
    if not purpose_raw:
        raise _invalid(
            "purpose",
            _("Indiquez la finalité de votre recherche (paramètre purpose : %(purposes)s).")
            % {"purposes": ", ".join(PURPOSES)},
        )
    purpose = parse_purpose(purpose_raw)
    chosen_mode = (mode or value("mode") or "index").strip()
    if chosen_mode not in MODES:
        raise _invalid("mode", _("« index » ou « live »."))
    if endpoint == "directory":
        kind = "directory"
    else:
        kind = value("type")
        if not kind:
            raise _invalid("type", _("Indiquez le type cherché : %(types)s.") % {"types": ", ".join(REFERENTIAL_TYPES)})
        if kind not in REFERENTIAL_TYPES:
            raise _invalid(
                "type",
                _("Type inconnu « %(value)s » ; types : %(types)s.")
                % {"value": kind, "types": ", ".join(REFERENTIAL_TYPES)},
            )
    page_raw = value("page_size")
    page_size = DEFAULT_PAGE_SIZE
    if page_raw:
        try:
            page_size = int(page_raw)
        except ValueError:
            page_size = 0
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise _invalid("page_size", _("Un entier de 1 à %(max)s.") % {"max": MAX_PAGE_SIZE})
    applicable = {f.name for f in FILTERS[kind]}
    filters: dict[str, Any] = {}
    given: dict[str, str] = {}
    words: tuple[str, ...] = ()
    for name in sorted(_ENDPOINT_FILTERS[endpoint]):
        raw = value(name)
        if not raw:
            continue
        if name not in applicable:
            raise _invalid(name, _("Ce filtre ne s'applique pas à ce type de recherche."))
        given[name] = raw
        if name == "q":
            words = _query_words(raw)
        else:
            filters[name] = _parse_filter(name, raw)
    for start, end in (("available_from", "available_to"), ("from", "to")):
        if start in filters and end in filters and filters[end] < filters[start]:
            raise _invalid(end, _("La fin de la période précède son début."))
    return SearchQuery(
        endpoint=endpoint,
        type=kind,
        purpose=purpose,
        mode=chosen_mode,
        words=words,
        page_size=page_size,
        cursor=value("cursor"),
        filters=filters,
        given=given,
    )


# ---------------------------------------------------------------------------- cursors


def encode_cursor(payload: Mapping[str, Any]) -> str:
    """An opaque cursor: urlsafe base64 (unpadded) of a small JSON (a position grants nothing)."""
    raw = json.dumps({"v": 1, **payload}, sort_keys=True, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _decode_cursor(query: SearchQuery, mode: str) -> dict[str, Any]:
    """The position of `query.cursor` (empty: the first page); 400 naming `cursor` otherwise."""
    if not query.cursor:
        return {}
    try:
        raw = base64.urlsafe_b64decode(query.cursor + "=" * (-len(query.cursor) % 4))
        payload = json.loads(raw)
    except (binascii.Error, ValueError):
        payload = None
    if (
        not isinstance(payload, dict)
        or payload.get("v") != 1
        or payload.get("m") != mode
        or payload.get("h") != query.fingerprint()
    ):
        raise _invalid("cursor", _("Curseur inconnu : il ne vient pas de cette recherche (mêmes filtres, même mode)."))
    offsets = payload.get("o")
    if mode == "index" and not (isinstance(offsets, int) and not isinstance(offsets, bool) and offsets >= 0):
        raise _invalid("cursor", _("Curseur altéré."))
    if mode == "live" and not (
        isinstance(offsets, dict) and all(isinstance(v, int) and not isinstance(v, bool) for v in offsets.values())
    ):
        raise _invalid("cursor", _("Curseur altéré."))
    return payload


# ---------------------------------------------------------------------------- who may search


def refusal(subject: Subject, *, now: dt.datetime | None = None) -> Decision | None:
    """Why `subject` may not search (None: it may): a licensed professional who accepted the terms.

    The reasons are the decision point's: `not_licensed`, `licence_expired`, `licence_pending`,
    `licence_withdrawn`, `terms_not_accepted`. A professional of another node (a registry's
    attestation) must have accepted the registry's terms, as attested.
    """
    from dataspace.directory.services import licence_standing

    profile = subject.professional if subject.kind == "person" else None
    day = pdp.node_day(now or timezone.now())
    if profile is not None:
        remote = bool(subject.node) and subject.node.rstrip("/") != str(settings.NODE_BASE_URL).rstrip("/")
        if remote and profile.terms_accepted != profile.terms_current:
            return Decision(
                effect="deny",
                reason_code="terms_not_accepted",
                reason=_("La personne n'a pas accepté les conditions d'utilisation du registre."),
            )
        refused = pdp.terms_decision(subject)
        if refused is not None:
            return refused
    licensed, code, sentence = licence_standing(profile, day)
    if not licensed:
        return Decision(effect="deny", reason_code=code, reason=str(sentence))
    return None


def ensure_may_search(subject: Subject, *, now: dt.datetime | None = None) -> None:
    """Raise `SearchRefused` unless `subject` may search (see `refusal`)."""
    decision = refusal(subject, now=now)
    if decision is not None:
        raise SearchRefused(decision.reason_code, decision.reason)


# ---------------------------------------------------------------------------- replicated policies

_doc_cache: dict[tuple[str, int], PolicyDoc] = {}
_doc_lock = threading.Lock()
_DOC_CACHE_MAX = 20000


def _policy_doc(uri: str, version: int, data: Mapping[str, Any]) -> PolicyDoc:
    """The internal form of a replicated policy (parsed once per version; outside the profile: deny all)."""
    key = (uri, version)
    cached = _doc_cache.get(key)
    if cached is not None:
        return cached
    from policies.language import PolicyError
    from policies.odrl import parse_odrl

    try:
        doc = parse_odrl(data.get("odrl"))
        raw_from = data.get("valid_from")
        valid_from = parse_datetime(raw_from) if isinstance(raw_from, str) and raw_from else None
        templates = data.get("templates") or ()
        doc = PolicyDoc(
            uid=uri,
            rules=doc.rules,
            valid_from=valid_from if valid_from is None or valid_from.tzinfo else None,
            templates=tuple(dict(t) for t in templates if isinstance(t, dict)),
        )
    except (PolicyError, TypeError, ValueError, AttributeError):
        doc = PolicyDoc(uid=uri, rules=())  # fail closed
    with _doc_lock:
        if len(_doc_cache) >= _DOC_CACHE_MAX:
            _doc_cache.clear()
        _doc_cache[key] = doc
    return doc


def _as_uuid(value: Any) -> uuid.UUID | None:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError):
        return None


def uuid_tail(uri: str) -> uuid.UUID | None:
    """The UUID ending a global URI (`…/id/<type>/<uuid>`), or None."""
    return _as_uuid(str(uri).rstrip("/").rsplit("/", 1)[-1]) if uri else None


@dataclass
class _Governance:
    """Which compiled policy governs which index row (see the module docstring)."""

    own: str
    local: pdp.PolicyIndex
    #: (origin, record type) → owner → policy; (origin, record type) → record id → policy (other origins).
    datasets: dict[tuple[str, str], dict[uuid.UUID, pdp.CompiledPolicy]] = field(default_factory=dict)
    records: dict[tuple[str, str], dict[uuid.UUID, pdp.CompiledPolicy]] = field(default_factory=dict)
    _defaults: dict[tuple[str, str], pdp.CompiledPolicy] = field(default_factory=dict)

    def foreign_default(self, origin: str, record_type: str) -> pdp.CompiledPolicy:
        """The default policy of another origin: public for the referentials, nothing otherwise."""
        key = (origin, record_type)
        compiled = self._defaults.get(key)
        if compiled is None:
            from policies.services import governed_types
            from policies.templates import public_rules

            uid = f"{origin}/id/policy/default-{record_type}"
            if record_type in governed_types():
                doc = PolicyDoc(uid=uid, rules=public_rules(), templates=({"name": "public"},))
            else:
                doc = PolicyDoc(uid=uid, rules=())
            compiled = pdp.CompiledPolicy(doc=doc, scope="default")
            self._defaults[key] = compiled
        return compiled

    def policy_for(self, origin: str, record_type: str, record_id: uuid.UUID, owner_id: uuid.UUID | None) -> Any:
        if origin == self.own:
            return self.local.policy_for(pdp.ResourceRef(record_type, record_id, owner_id))
        override = self.records.get((origin, record_type), {}).get(record_id)
        if override is not None:
            return override
        if owner_id is not None:
            dataset = self.datasets.get((origin, record_type), {}).get(owner_id)
            if dataset is not None:
                return dataset
        return self.foreign_default(origin, record_type)


def _governance(rows: QuerySet[IndexedRecord], own: str) -> _Governance:
    """This node's compiled policies, and the replicated policies of every other origin (one query)."""
    governance = _Governance(own=own, local=pdp.policy_index())
    versions: dict[tuple[str, str, str, uuid.UUID], int] = {}
    found = rows.filter(record_type="policy").exclude(origin=own).values_list("origin", "uri", "version", "data")
    for origin, uri, version, data in found:
        if not isinstance(data, dict) or data.get("active") is False:
            continue
        target_type = data.get("target_type")
        owner_id = _as_uuid(data.get("owner"))
        if not isinstance(target_type, str) or owner_id is None:
            continue
        target_id = _as_uuid(data.get("target_id")) if data.get("target_id") else None
        scope: pdp.PolicyScope = "record" if target_id is not None else "dataset"
        key = target_id if target_id is not None else owner_id
        slot = (origin, target_type, scope, key)
        if versions.get(slot, -1) >= version:
            continue
        versions[slot] = version
        compiled = pdp.CompiledPolicy(doc=_policy_doc(uri, version, data), scope=scope, owner_id=owner_id)
        table = governance.records if target_id is not None else governance.datasets
        table.setdefault((origin, target_type), {})[key] = compiled
    return governance


# ---------------------------------------------------------------------------- SQL helpers

_ALL = Q(pk__isnull=False)
_NONE = Q(pk__in=[])


def _any(parts: Iterable[Q]) -> Q:
    """The OR of `parts` (nothing: no row)."""
    condition: Q | None = None
    for part in parts:
        condition = part if condition is None else condition | part
    return condition if condition is not None else _NONE


def _all_but(excluded: Sequence[Q]) -> Q:
    """Every row but those of `excluded`."""
    return ~_any(excluded) if excluded else _ALL


def _owned(owners: Iterable[uuid.UUID | None], record_type: str | None = None) -> Q:
    """Rows owned by these organisations (an organisation describing itself owns its own row)."""
    ids = [owner for owner in owners if owner is not None]
    if not ids:
        return _NONE
    condition = Q(owner_id__in=ids)
    if record_type in (None, "organisation"):
        itself = Q(owner_id__isnull=True, record_id__in=ids)
        condition |= itself if record_type == "organisation" else (Q(record_type="organisation") & itself)
    return condition


def _has_code(member: str, code: str, column: str = "data") -> Q:
    """The JSON list `column[member]` holds the string `code` (portable: the list's JSON text)."""
    text = Cast(KeyTransform(member, column), output_field=TextField())
    return Q(Contains(text, Value(json.dumps(code))))


def _words(words: Sequence[str]) -> Q:
    condition = _ALL
    for word in words:
        condition &= Q(text__contains=word)
    return condition


def _region(value: str) -> Q:
    return Q(region=value) | Q(region=fold(value))


_GROUP = Coalesce(NullIf(F("dedupe_key"), Value("")), F("uri"), output_field=CharField())


# ---------------------------------------------------------------------------- one search over the index


@dataclass
class _Fact:
    """What the journal needs of one returned record."""

    record_type: str
    record_id: uuid.UUID
    owner_id: uuid.UUID | None
    origin: str
    uri: str
    person: bool = False
    #: The obligations of the policy that let it through: journal it (per owner).
    journal: bool = False
    policy_uid: str | None = None


@dataclass
class _Page:
    results: list[dict[str, Any]]
    count: int
    #: The offset of the next page (rows, or groups of the same show for productions).
    next_offset: int
    has_more: bool
    facts: list[_Fact]
    origin_counts: dict[str, int]


class _IndexSearch:
    """The search of one query for one subject over the index (see the module docstring)."""

    def __init__(
        self,
        query: SearchQuery,
        subject: Subject,
        *,
        origins: frozenset[str] | None = None,
        reader: Any = None,
        now: dt.datetime | None = None,
    ) -> None:
        self.query = query
        self.subject = subject
        self.now = now or timezone.now()
        self.day = pdp.node_day(self.now)
        self.own = str(settings.NODE_BASE_URL).rstrip("/")
        self.origins = origins
        self.context = pdp.Context(purpose=query.purpose, now=self.now)
        rows = IndexedRecord.objects.exclude(data={}).filter(Q(expires_at__isnull=True) | Q(expires_at__gt=self.now))
        if origins is not None:
            rows = rows.filter(origin__in=sorted(origins))
        if reader is not None:
            rows = rows.filter(_agreement_q(reader, self.day))
        self.rows = rows
        self.governance = _governance(rows, self.own)
        self._grants: dict[tuple[int, uuid.UUID | None], pdp.Grant | None] = {}
        self._visible: dict[str, Q] = {}
        self._sentences: dict[tuple[str, str], str] = {}
        self._counted: set[tuple[uuid.UUID, int]] = set()

    # ------------------------------------------------------------------ policies

    def grant(self, compiled: pdp.CompiledPolicy, owner_id: uuid.UUID | None) -> pdp.Grant | None:
        """The policy's permit for the subject (None: denied), evaluated once per policy and owner."""
        key = (id(compiled), owner_id)
        if key not in self._grants:
            request = pdp._Request(  # the decision point's evaluation input (same as filter_queryset's)
                subject=self.subject,
                action=ACTION,
                context=self.context,
                owner_id=owner_id,
                now=self.now,
                day=self.day,
            )
            outcome = pdp.evaluate(compiled, request, take_count=False)
            self._grants[key] = None if isinstance(outcome, Decision) else outcome
        return self._grants[key]

    def _own_controls(self, record_type: str, condition: Q) -> Q:
        """This node's hidden records and blocks, on its own rows."""
        local = self.governance.local
        if record_type in local.hidden_types and not self.subject.is_superuser:
            from policies.controls import hidden_exclusion

            for child in hidden_exclusion(self.subject, record_type).children:
                lookup, subquery = child if isinstance(child, tuple) else ("", None)
                if lookup == "pk__in":
                    condition &= ~Q(record_id__in=subquery)
                else:  # pragma: no cover - an unexpected shape: fail closed
                    return _NONE
        if local.any_block:
            blocking = pdp.blocking_owners(self.subject)
            if blocking is not None:
                condition &= ~Q(owner_id__in=blocking)
                if record_type == "organisation":
                    condition &= ~Q(owner_id__isnull=True, record_id__in=blocking)
        return condition

    def _own_policy_q(self, record_type: str) -> Q:
        """Own rows the subject may search, as `pdp.filter_queryset` decides for local lists."""
        local = self.governance.local
        acting = frozenset(self.subject.acts_for)
        default = self.grant(local.default(record_type), None)
        owners = {
            owner: self.grant(compiled, owner)
            for owner, compiled in local.datasets.get(record_type, {}).items()
            if owner not in acting
        }
        records = {
            record: self.grant(compiled, compiled.owner_id)
            for record, compiled in local.records.get(record_type, {}).items()
            if compiled.owner_id not in acting
        }
        denied_owners = [owner for owner, grant in owners.items() if grant is None]
        if default is not None:
            condition = ~_owned(denied_owners, record_type) if denied_owners else _ALL
        else:
            condition = _owned([owner for owner, grant in owners.items() if grant is not None], record_type)
        denied = [record for record, grant in records.items() if grant is None]
        permitted = [record for record, grant in records.items() if grant is not None]
        if denied:
            condition &= ~Q(record_id__in=denied)
        if permitted:
            condition |= Q(record_id__in=permitted)
        if acting:
            condition |= _owned(acting, record_type)
        return self._own_controls(record_type, condition)

    def _foreign_policy_q(self, record_type: str) -> Q:
        """Rows of other origins the subject may search, under their replicated policies."""
        governance = self.governance
        default = self.grant(governance.foreign_default("", record_type), None)
        permitted_owners: list[Q] = []
        denied_owners: list[Q] = []
        for (origin, target_type), owners in governance.datasets.items():
            if target_type != record_type:
                continue
            allowed = [owner for owner, compiled in owners.items() if self.grant(compiled, owner) is not None]
            refused = sorted(set(owners) - set(allowed))
            if allowed:
                permitted_owners.append(Q(origin=origin) & _owned(allowed, record_type))
            if refused:
                denied_owners.append(Q(origin=origin) & _owned(refused, record_type))
        condition = _any(permitted_owners) if default is None else _all_but(denied_owners)
        permitted_records: list[Q] = []
        denied_records: list[Q] = []
        for (origin, target_type), overrides in governance.records.items():
            if target_type != record_type:
                continue
            allowed_ids = [
                r for r, compiled in overrides.items() if self.grant(compiled, compiled.owner_id) is not None
            ]
            refused_ids = sorted(set(overrides) - set(allowed_ids))
            if allowed_ids:
                permitted_records.append(Q(origin=origin, record_id__in=allowed_ids))
            if refused_ids:
                denied_records.append(Q(origin=origin, record_id__in=refused_ids))
        if denied_records:
            condition &= ~_any(denied_records)
        if permitted_records:
            condition |= _any(permitted_records)
        return condition

    def _entry_q(self) -> Q:
        """Directory entries: consent in force whose purposes cover the declared purpose."""
        codes = [code for code, covered in CONSENT_PURPOSES.items() if self.query.purpose in covered]
        codes.append(self.query.purpose)  # a consent naming the search purpose itself
        condition = _any(_has_code("purposes", code, "consent") for code in codes)
        if self.origins is None or self.own in self.origins:
            from dataspace.directory.entries import published_ids

            own = Q(origin=self.own) & self._own_controls(ENTRY, Q(record_id__in=published_ids(self.now)))
            condition &= ~Q(origin=self.own) | own
        return condition

    def visible_q(self, record_type: str) -> Q:
        """Rows of `record_type` the subject may search (policies or the directory rule)."""
        cached = self._visible.get(record_type)
        if cached is not None:
            return cached
        if record_type == ENTRY:
            condition = self._entry_q()
        else:
            parts = []
            if self.origins is None or self.own in self.origins:
                parts.append(Q(origin=self.own) & self._own_policy_q(record_type))
            if self.origins is None or self.origins - {self.own}:
                parts.append(~Q(origin=self.own) & self._foreign_policy_q(record_type))
            condition = _any(parts)
        condition = Q(record_type=record_type) & condition
        self._visible[record_type] = condition
        return condition

    def visible(self, record_type: str) -> QuerySet[IndexedRecord]:
        return self.rows.filter(self.visible_q(record_type))

    def governing(self, row: IndexedRecord) -> tuple[pdp.CompiledPolicy | None, pdp.Grant | None]:
        """The policy governing a returned row and the subject's grant under it."""
        if row.record_type == ENTRY:
            return None, None
        if row.origin == self.own and row.owner_id is not None and row.owner_id in self.subject.acts_for:
            return None, pdp.OWNER_GRANT
        owner = row.owner_id if row.owner_id is not None or row.record_type != "organisation" else row.record_id
        compiled = self.governance.policy_for(row.origin, row.record_type, row.record_id, owner)
        return compiled, self.grant(compiled, owner)

    # ------------------------------------------------------------------ filters per type

    def _venue_uris(self, region: str | None, departement: str | None, venue_type: str | None) -> QuerySet[Any]:
        venues = self.visible("venue")
        if region:
            venues = venues.filter(_region(region))
        if departement:
            venues = venues.filter(departement=departement)
        if venue_type:
            venues = venues.filter(data__venue_type=venue_type)
        return venues.values("uri")

    def _place_q(self, own_place: bool) -> Q:
        """Rows whose place (own columns, or the venue / the hall's venue) matches region,
        departement and venue type. `own_place`: the row is a hall (parent = venue); else a
        performance (place = hall)."""
        filters = self.query.filters
        region, departement, venue_type = filters.get("region"), filters.get("departement"), filters.get("venue_type")
        if not (region or departement or venue_type):
            return _ALL
        venues = self._venue_uris(region, departement, venue_type)
        halls = self.visible("hall").filter(parent_uri__in=venues).values("uri")
        via = Q(parent_uri__in=venues) if own_place else Q(place_uri__in=halls)
        if venue_type:
            return via
        direct = _ALL
        if region:
            direct &= _region(region)
        if departement:
            direct &= Q(departement=departement)
        return via | direct

    def _dates_q(self) -> Q:
        filters = self.query.filters
        zone = zoneinfo.ZoneInfo(str(settings.NODE_TIME_ZONE))
        condition = _ALL
        if "from" in filters:
            start = dt.datetime.combine(filters["from"], dt.time.min, tzinfo=zone)
            condition &= Q(starts_at__gte=start)
        if "to" in filters:
            end = dt.datetime.combine(filters["to"] + dt.timedelta(days=1), dt.time.min, tzinfo=zone)
            condition &= Q(starts_at__lt=end)
        return condition

    def _technical_q(self) -> Q:
        """Halls meeting every minimum: capacity (the hall's own), stage dimensions (its technical sheet's)."""
        filters = self.query.filters
        columns = {
            "min_proscenium_opening": "proscenium_opening_m",
            "min_height_under_grid": "height_under_grid_m",
            "min_stage_width": "stage_width_m",
            "min_stage_depth": "stage_depth_m",
        }
        wanted = {column: filters[name] for name, column in columns.items() if name in filters}
        condition = _ALL
        if "min_capacity" in filters:
            condition &= Q(capacity__gte=filters["min_capacity"])
        if wanted:
            # from the technical sheets the subject may search only: a hall row carries its sheet's
            # dimensions too, but the sheet's policy (often stricter) decides who may use them
            sheets = self.visible("technical-sheet").filter(**{f"{c}__gte": v for c, v in wanted.items()})
            condition &= Q(uri__in=sheets.values("parent_uri"))
        return condition

    def _has_technical(self) -> bool:
        return any(name in self.query.filters for name in ("min_capacity", *[f.name for f in _TECHNICAL]))

    def directory(self) -> QuerySet[IndexedRecord]:
        filters = self.query.filters
        rows = self.visible(ENTRY).filter(_words(self.query.words))
        if "trade" in filters:
            rows = rows.filter(_has_code("trades", filters["trade"]))
        if "language" in filters:
            rows = rows.filter(_has_code("languages", filters["language"]))
        if "skill" in filters:  # one published skill, whole (as the directory's own search)
            rows = rows.filter(text__contains=index_token("skill", filters["skill"]))
        if "region" in filters:
            rows = rows.filter(_region(filters["region"]))
        if "available_from" in filters or "available_to" in filters:
            first = filters.get("available_from") or filters["available_to"]
            last = filters.get("available_to") or first
            periods = IndexedAvailability.objects.filter(start__lte=first, end__gte=last)
            rows = rows.filter(pk__in=periods.values("record_id"))
        return rows.order_by("text", "uri")

    def performances(self) -> QuerySet[IndexedRecord]:
        filters = self.query.filters
        productions = self.visible("production")
        rows = self.visible("performance").filter(self._dates_q(), self._place_q(own_place=False))
        if "discipline" in filters:
            wanted = productions.filter(discipline=filters["discipline"]).values("uri")
            rows = rows.filter(Q(discipline=filters["discipline"]) | Q(parent_uri__in=wanted))
        if self.query.words:
            titled = productions.filter(_words(self.query.words)).values("uri")
            rows = rows.filter(_words(self.query.words) | Q(parent_uri__in=titled))
        title = Subquery(productions.filter(uri=OuterRef("parent_uri")).values("title")[:1])
        return rows.annotate(production_title=title).order_by("starts_at", "uri")

    def productions(self) -> QuerySet[IndexedRecord]:
        filters = self.query.filters
        rows = self.visible("production").filter(_words(self.query.words))
        if "discipline" in filters:
            rows = rows.filter(discipline=filters["discipline"])
        if any(name in filters for name in ("region", "departement", "from", "to")):
            shown = self.visible("performance").filter(self._dates_q(), self._place_q(own_place=False))
            parents = shown.values("parent_uri")
            keys = self.visible("production").filter(uri__in=parents).exclude(dedupe_key="").values("dedupe_key")
            rows = rows.filter(Q(uri__in=parents) | Q(dedupe_key__in=keys))
        rows = rows.annotate(grp=_GROUP)
        if filters.get("on_tour") is not None:
            touring = self._touring_q()
            rows = rows.filter(touring) if filters["on_tour"] else rows.exclude(touring)
        return rows

    def _touring_q(self) -> Q:
        """Production groups on tour: performances in two venues at least, or seen on two nodes."""
        productions = self.visible("production").annotate(grp=_GROUP)
        venue = Concat(F("origin"), Value("|"), KeyTextTransform("venue", "data"), output_field=CharField())
        by_performances = (
            self.visible("performance")
            .annotate(grp=Subquery(productions.filter(uri=OuterRef("parent_uri")).values("grp")[:1]))
            .exclude(grp=None)
            .values("grp")
            .annotate(venues=Count(venue, distinct=True), nodes=Count("origin", distinct=True))
            .filter(Q(venues__gte=2) | Q(nodes__gte=2))
            .values("grp")
        )
        by_nodes = (
            productions.values("grp").annotate(nodes=Count("origin", distinct=True)).filter(nodes__gte=2).values("grp")
        )
        return Q(grp__in=by_performances) | Q(grp__in=by_nodes)

    def _halls_matching(self) -> QuerySet[IndexedRecord]:
        return self.visible("hall").filter(self._technical_q())

    def venues(self) -> QuerySet[IndexedRecord]:
        filters = self.query.filters
        rows = self.visible("venue").filter(_words(self.query.words))
        if "region" in filters:
            rows = rows.filter(_region(filters["region"]))
        if "departement" in filters:
            rows = rows.filter(departement=filters["departement"])
        if "venue_type" in filters:
            rows = rows.filter(data__venue_type=filters["venue_type"])
        if self._has_technical():
            # a venue qualifies when one of its halls meets every criterion at once
            via_halls = Q(uri__in=self._halls_matching().values("parent_uri"))
            if set(filters) & {f.name for f in _TECHNICAL} == {"min_capacity"}:
                via_halls |= Q(capacity__gte=filters["min_capacity"])  # or the venue's own capacity facet
            rows = rows.filter(via_halls)
        return rows.order_by("text", "uri")

    def halls(self) -> QuerySet[IndexedRecord]:
        rows = self.visible("hall").filter(_words(self.query.words), self._place_q(own_place=True))
        if self._has_technical():
            rows = rows.filter(self._technical_q())
        return rows.order_by("text", "uri")

    def programmers(self) -> QuerySet[IndexedRecord]:
        filters = self.query.filters
        persons = self.visible_q(ENTRY) & _any(_has_code("trades", code) for code in PROGRAMMER_TRADES)
        organisations = self.visible_q("organisation") & _any(Q(data__kind=kind) for kind in PROGRAMMING_KINDS)
        if "discipline" in filters:
            label = fold(str(dict(Discipline.choices).get(filters["discipline"], filters["discipline"])))
            persons &= Q(text__contains=label)
            organisations &= _has_code("disciplines", filters["discipline"])
        if "region" in filters:
            persons &= _region(filters["region"])
            organisations &= _region(filters["region"])
        if "departement" in filters:
            persons = _NONE  # a directory entry names a region only
            organisations &= Q(departement=filters["departement"])
        return self.rows.filter(persons | organisations).filter(_words(self.query.words)).order_by("text", "uri")

    # ------------------------------------------------------------------ results

    def _sentence(self, compiled: pdp.CompiledPolicy, owner_name: str) -> str:
        key = (compiled.doc.uid, owner_name)
        if key not in self._sentences:
            from policies.sentences import sentence

            self._sentences[key] = sentence(compiled.doc, owner_name=owner_name)
        return self._sentences[key]

    def _entry_policy(self, row: IndexedRecord) -> dict[str, Any]:
        until = row.expires_at
        if until is not None:
            from policies.sentences import format_day

            text = _(
                "Fiche publiée avec le consentement de la personne, jusqu'au %(day)s : réservée aux professionnels "
                "licenciés ; chaque consultation est journalisée et visible par la personne."
            ) % {"day": format_day(pdp.node_day(until))}
        else:
            text = _(
                "Fiche publiée avec le consentement de la personne : réservée aux professionnels licenciés ; "
                "chaque consultation est journalisée et visible par la personne."
            )
        return {"uid": None, "text": text}

    def result(self, row: IndexedRecord, *, title: str | None = None) -> tuple[dict[str, Any], _Fact]:
        """One result member (with the internal `dedupe_key` and `sort`) and its journal fact."""
        compiled, grant = self.governing(row)
        owner_uri = row.owner_uri or (f"{row.origin}/id/organisation/{row.owner_id}" if row.owner_id else "")
        attribution: str | None = None
        journal_duty = row.record_type == ENTRY
        if row.record_type == ENTRY:
            policy = self._entry_policy(row)
        elif compiled is None:
            policy = {"uid": None, "text": _("Vous agissez pour la structure propriétaire de ces données.")}
        else:
            policy = {"uid": compiled.doc.uid, "text": self._sentence(compiled, row.owner_name)}
        if grant is not None:
            for obligation in grant.decision.obligations:
                if obligation.action == "attribute":
                    attribution = str(obligation.value or "").strip() or row.owner_name or row.origin
                elif obligation.action == "journal":
                    journal_duty = True
        shown_title = row.title if title is None else title
        if row.record_type == "performance":
            sort = [row.starts_at.astimezone(dt.UTC).isoformat() if row.starts_at else "", row.uri]
        else:
            sort = [row.text[:_SORT_LENGTH], row.uri]
        member = {
            "id": row.uri,
            "type": row.record_type,
            "title": shown_title,
            "owner": {"id": owner_uri or None, "name": row.owner_name},
            "origin": row.origin,
            "policy": policy,
            "attribution": attribution,
            "version": row.version,
            "record": row.data,
            "sources": [row.uri],
            "dedupe_key": row.dedupe_key,
            "sort": sort,
        }
        fact = _Fact(
            record_type=row.record_type,
            record_id=row.record_id,
            owner_id=row.owner_id,
            origin=row.origin,
            uri=row.uri,
            person=row.record_type == ENTRY,
            journal=journal_duty,
            policy_uid=compiled.doc.uid if compiled is not None else None,
        )
        self._take_counts(grant)
        return member, fact

    def _take_counts(self, grant: pdp.Grant | None) -> None:
        """Daily counters of this node's own count-limited policies (once per policy rule and search)."""
        if grant is None or grant.policy is None or grant.policy.policy_id is None or not grant.counted:
            return
        for rule_index, limit in grant.counted:
            key = (grant.policy.policy_id, rule_index)
            if key not in self._counted:
                self._counted.add(key)
                pdp.count_use(grant.policy.policy_id, rule_index, self.subject.key, self.day, limit)

    def _places(self, performances: Sequence[IndexedRecord]) -> dict[str, dict[str, Any]]:
        """Hall URI → {"hall": {...}, "venue": {...}} for these performances (two queries)."""
        hall_uris = {row.place_uri for row in performances if row.place_uri}
        if not hall_uris:
            return {}
        halls = {
            uri: (title, parent)
            for uri, title, parent in self.visible("hall")
            .filter(uri__in=sorted(hall_uris))
            .values_list("uri", "title", "parent_uri")
        }
        venue_uris = sorted({parent for _t, parent in halls.values() if parent})
        venues = {
            uri: {"id": uri, "name": title, "city": (data or {}).get("city", ""), "region": region}
            for uri, title, region, data in self.visible("venue")
            .filter(uri__in=venue_uris)
            .values_list("uri", "title", "region", "data")
        }
        return {
            uri: {"hall": {"id": uri, "name": title}, "venue": venues.get(parent)}
            for uri, (title, parent) in halls.items()
        }

    def _performance_member(self, row: IndexedRecord, places: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
        place = places.get(row.place_uri, {})
        data = row.data if isinstance(row.data, dict) else {}
        return {
            "id": row.uri,
            "origin": row.origin,
            "start": data.get("start") or (row.starts_at.isoformat() if row.starts_at else None),
            "status": data.get("status"),
            "hall": place.get("hall"),
            "venue": place.get("venue"),
            "owner": {"id": row.owner_uri or None, "name": row.owner_name},
            "record": row.data,
        }

    def page(self, offset: int) -> _Page:
        """The page of results from `offset` (productions: groups of the same show)."""
        size = self.query.page_size
        if self.query.type == "production":
            return self._production_page(offset, size)
        rows = {
            "directory": self.directory,
            "performance": self.performances,
            "venue": self.venues,
            "hall": self.halls,
            "programmer": self.programmers,
        }[self.query.type]()
        count = rows.count()
        chosen = list(rows[offset : offset + size])
        results: list[dict[str, Any]] = []
        facts: list[_Fact] = []
        places = self._places(chosen) if self.query.type == "performance" else {}
        for row in chosen:
            # a performance is named by its production as the subject may see it, never by the
            # copy of the title its row carries (the production's policy may be stricter)
            title = (getattr(row, "production_title", None) or "") if row.record_type == "performance" else None
            member, fact = self.result(row, title=title)
            if row.record_type == "performance":
                place = places.get(row.place_uri, {})
                member["production"] = {"id": row.parent_uri or None, "title": title or ""}
                member["venue"] = place.get("venue")
                member["hall"] = place.get("hall")
            results.append(member)
            facts.append(fact)
        counts = dict(rows.order_by().values_list("origin").annotate(n=Count("pk")).values_list("origin", "n"))
        return _Page(
            results=results,
            count=count,
            next_offset=offset + len(chosen),
            has_more=offset + len(chosen) < count,
            facts=facts,
            origin_counts=counts,
        )

    def _production_page(self, offset: int, size: int) -> _Page:
        rows = self.productions()
        groups = rows.order_by().values("grp").annotate(first=Min("text")).order_by("first", "grp")  # type: ignore[misc]
        count = groups.count()
        keys = [group["grp"] for group in groups[offset : offset + size]]
        members = list(
            self.visible("production").annotate(grp=_GROUP).filter(grp__in=keys).order_by("changed_at", "uri")
        )
        by_key: dict[str, list[IndexedRecord]] = defaultdict(list)
        for row in members:
            by_key[getattr(row, "grp", row.uri)].append(row)
        uris = [row.uri for row in members]
        shows = list(self.visible("performance").filter(parent_uri__in=uris).order_by("starts_at", "uri"))
        places = self._places(shows)
        performances: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for show in shows:
            performances[show.parent_uri].append(self._performance_member(show, places))
        results: list[dict[str, Any]] = []
        facts: list[_Fact] = []
        for key in keys:
            group = by_key.get(key) or []
            if not group:
                continue
            primary = _primary(group)
            member, fact = self.result(primary)
            facts.append(fact)
            for other in group:
                if other is not primary:
                    facts.append(self.result(other)[1])
            member["sources"] = [primary.uri, *[row.uri for row in group if row is not primary]]
            member["performances"] = sorted(
                (item for row in group for item in performances.get(row.uri, [])),
                key=lambda item: (_instant(item.get("start")), item["id"]),
            )
            results.append(member)
        counts = dict(rows.order_by().values_list("origin").annotate(n=Count("pk")).values_list("origin", "n"))
        return _Page(
            results=results,
            count=count,
            next_offset=offset + len(keys),
            has_more=offset + len(keys) < count,
            facts=facts,
            origin_counts=counts,
        )


def _primary(group: Sequence[IndexedRecord]) -> IndexedRecord:
    """The row that represents a group of the same show: the producer's own record if one of the
    rows is produced by its owner, else the oldest."""
    for row in group:
        data = row.data if isinstance(row.data, dict) else {}
        if data.get("producer") and str(data.get("producer")) == str(data.get("owner")):
            return row
    return group[0]


def _instant(value: Any) -> dt.datetime:
    """An ISO date-time as an aware UTC instant (unknown: the far past), to sort merged results."""
    parsed = parse_datetime(value) if isinstance(value, str) else None
    if parsed is None:
        return dt.datetime.min.replace(tzinfo=dt.UTC)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def _agreement_q(reader: Any, day: dt.date) -> Q:
    """Rows the `reader`'s data-sharing agreements let leave this node (as its change feed would)."""
    from dataspace.consent.agreements import FOLLOWS_OWNER, feed_filter

    allowed = feed_filter(reader, day=day)
    parts = [_owned(allowed.acts_for)]
    by_type: dict[str, list[Any]] = defaultdict(list)
    for owner, record_type in allowed.in_force:
        by_type[record_type].append(owner)
    parts += [Q(record_type=record_type) & _owned(owners, record_type) for record_type, owners in by_type.items()]
    if allowed.owners_in_force:
        parts.append(Q(record_type__in=sorted(FOLLOWS_OWNER)) & _owned(allowed.owners_in_force))
    return _any(parts)


# ---------------------------------------------------------------------------- node statuses (index mode)


def _peer_names() -> dict[str, tuple[str, list[str]]]:
    return {
        peer.base_url.rstrip("/"): (peer.name, list(peer.roles or []))
        for peer in Peer.objects.only("base_url", "name", "roles")
    }


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if moment is not None else None


def index_statuses(origin_counts: Mapping[str, int], *, now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Each replicated node's status in index mode: its replication health (SyncState).

    "ok" when the last successful pull is not older than the last attempt, else "error" with the
    last error; `as_of` is the last success. This node comes first (its own records, indexed
    in-process just before the search); then every structure member and every node replicated.
    """
    own = str(settings.NODE_BASE_URL).rstrip("/")
    peers = _peer_names()
    states = {state.node.rstrip("/"): state for state in SyncState.objects.all()}
    nodes = [url for url, (_name, roles) in peers.items() if "structure" in roles and url != own]
    nodes += [url for url in states if url not in nodes and url != own]
    answer = []
    for url in [own, *sorted(nodes, key=lambda url: (peers.get(url, (url, []))[0], url))]:
        state = states.get(url)
        name = str(settings.NODE_NAME) if url == own else peers.get(url, (url, []))[0]
        if url == own:  # indexed in-process just before the search
            status, detail, as_of = "ok", "", _iso(now or timezone.now())
        elif state is None or state.last_success_at is None:
            status, as_of = "error", None
            detail = (state.last_error if state is not None else "") or _("Pas encore répliqué.")
        elif state.last_attempt_at is not None and state.last_success_at < state.last_attempt_at:
            status, detail, as_of = "error", state.last_error or _("La dernière réplication a échoué."), None
            as_of = _iso(state.last_success_at)
        else:
            status, detail, as_of = "ok", "", _iso(state.last_success_at)
        answer.append(
            {
                "node": url,
                "name": name,
                "status": status,
                "ms": 0,
                "count": int(origin_counts.get(url, 0)),
                "detail": detail,
                "as_of": as_of,
            }
        )
    return answer


# ---------------------------------------------------------------------------- live fan-out


@dataclass
class _Reply:
    """One node's answer to a live search."""

    node: str
    name: str
    status: str
    ms: int
    results: list[dict[str, Any]] = field(default_factory=list)
    count: int = 0
    has_more: bool = False
    detail: str = ""
    as_of: str | None = None


def _valid_member(member: Any, origin: str) -> bool:
    """A node may only answer with its own records (a result claiming another origin is dropped)."""
    if not isinstance(member, dict):
        return False
    uri, declared = member.get("id"), member.get("origin")
    return (
        isinstance(uri, str)
        and isinstance(declared, str)
        and declared.rstrip("/") == origin
        and uri.startswith(origin + "/id/")
        and isinstance(member.get("sources", []), list)
    )


def ask_node(base_url: str, endpoint: str, params: Mapping[str, str], token: str, timeout: float) -> _Reply:
    """POST the search to one node (signed, its token, the attestation); never raises."""
    from federation.attestation import HEADER
    from federation.client import NodeClient, PeerDenied, PeerError, PeerTimeout

    origin = base_url.rstrip("/")
    started = time.monotonic()

    def elapsed() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        client = NodeClient(origin, timeout=timeout)
        response = client.post(
            NODE_SEARCH_PATH,
            json={"endpoint": endpoint, "params": dict(params)},
            scope=SCOPES[endpoint],
            headers={HEADER: token},
            timeout=timeout,
        )
        if response.status_code in (401, 403):
            return _Reply(origin, "", "denied", elapsed(), detail=_error_detail(response))
        if response.status_code != 200:
            return _Reply(origin, "", "error", elapsed(), detail=_error_detail(response))
        body = response.json()
        if not isinstance(body, dict) or not isinstance(body.get("results"), list):
            return _Reply(origin, "", "error", elapsed(), detail="invalid answer")
        results = [member for member in body["results"] if _valid_member(member, origin)]
        count = body.get("count")
        return _Reply(
            origin,
            "",
            "ok",
            elapsed(),
            results=results,
            count=count if isinstance(count, int) and not isinstance(count, bool) and count >= 0 else len(results),
            has_more=bool(body.get("next")),
        )
    except PeerTimeout as exc:
        return _Reply(origin, "", "timeout", elapsed(), detail=str(getattr(exc, "detail", "") or exc))
    except PeerDenied as exc:
        return _Reply(origin, "", "denied", elapsed(), detail=str(getattr(exc, "detail", "") or exc))
    except PeerError as exc:
        return _Reply(origin, "", "error", elapsed(), detail=str(getattr(exc, "detail", "") or exc))
    except Exception as exc:  # noqa: BLE001 - a node's failure is its status, never the answer's
        return _Reply(origin, "", "error", elapsed(), detail=exc.__class__.__name__)
    finally:
        connections.close_all()  # this thread's own database connections, if it opened any


def _error_detail(response: Any) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        return str(body.get("detail") or body.get("error") or response.status_code)[:300]
    return f"HTTP {response.status_code}"


def _status_detail(reply: _Reply, timeout: float) -> str:
    if reply.status == "ok":
        return ""
    if reply.status == "timeout":
        return _("Délai dépassé (%(seconds)s s) : le nœud n'a pas répondu à temps.") % {"seconds": f"{timeout:g}"}
    if reply.status == "denied":
        return _("Accès refusé par le nœud : %(detail)s") % {"detail": reply.detail or "-"}
    return _("Erreur du nœud : %(detail)s") % {"detail": reply.detail or "-"}


def fan_out(
    peers: Sequence[tuple[str, str]],
    ask: Callable[[str], _Reply],
    timeout: float,
    local: Callable[[], Any] | None = None,
) -> tuple[list[_Reply], Any]:
    """Ask every (base URL, name) in parallel with `ask`, run `local` meanwhile, and return within
    `timeout` seconds of the start whatever happened: a node still busy is "timeout" (its thread
    is abandoned, not waited for)."""
    started = time.monotonic()
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(peers)), thread_name_prefix="fed-search")
    futures = {pool.submit(ask, url): (url, name) for url, name in peers}
    try:
        local_answer = local() if local is not None else None
        remaining = max(0.0, timeout - (time.monotonic() - started))
        done, _late = concurrent.futures.wait(futures, timeout=remaining)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    replies = []
    for future, (url, name) in futures.items():
        reply = future.result() if future in done else _Reply(url, name, "timeout", int(timeout * 1000))
        reply.name = name
        replies.append(reply)
    return replies, local_answer


def _merge(
    sources: list[tuple[str, list[dict[str, Any]], bool]], page_size: int
) -> tuple[list[dict[str, Any]], dict[str, int], bool]:
    """Merge the nodes' ordered lists into one page: take the smallest head (each list consumed in
    its own order), skip URIs already taken, fold productions of the same `dedupe_key` into the
    first one — also once the page is full, while the next head is such a copy (copies of a show
    sort together), so that a show is not split over two pages. Returns the page, how many items
    of each source were consumed, and whether any source has more."""
    heads = {url: 0 for url, _items, _more in sources}
    lists = {url: items for url, items, _more in sources}
    more = {url: flag for url, _items, flag in sources}
    taken: list[dict[str, Any]] = []
    seen: set[str] = set()
    groups: dict[str, dict[str, Any]] = {}

    def key_of(member: dict[str, Any]) -> str:
        return str(member.get("dedupe_key") or "") if member.get("type") == "production" else ""

    while True:
        candidates = [(lists[url][heads[url]].get("sort") or [], url) for url in heads if heads[url] < len(lists[url])]
        if not candidates:
            break
        _sort, url = min(candidates, key=lambda item: ([str(part) for part in item[0]], item[1]))
        member = lists[url][heads[url]]
        key = key_of(member)
        folds = member["id"] in seen or (bool(key) and key in groups)
        if len(taken) >= page_size and not folds:
            break
        heads[url] += 1
        if member["id"] in seen:
            continue
        seen.add(member["id"])
        if key and key in groups:
            _fold_into(groups[key], member)
            continue
        if key:
            groups[key] = member
        taken.append(member)
    has_more = any(heads[url] < len(lists[url]) or more[url] for url in heads)
    return taken, heads, has_more


def _fold_into(primary: dict[str, Any], other: dict[str, Any]) -> None:
    """Add a production seen through another node to the result standing for the same show."""
    for uri in other.get("sources") or [other["id"]]:
        if uri not in primary["sources"]:
            primary["sources"].append(uri)
    known = {item.get("id") for item in primary.get("performances", [])}
    added = [item for item in other.get("performances", []) if item.get("id") not in known]
    primary["performances"] = sorted(
        [*primary.get("performances", []), *added], key=lambda item: (_instant(item.get("start")), str(item.get("id")))
    )


def _strip(member: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in member.items() if key not in _INTERNAL}


# ---------------------------------------------------------------------------- journal


def _journal(subject: Subject, query: SearchQuery, mode: str, facts: Sequence[_Fact], summary: dict[str, Any]) -> None:
    """One entry for the search, one per person found, one per owner whose policy asks for it."""
    from dataspace.audit.services import journal_entry, journal_many

    if not getattr(settings, "JOURNAL_ENABLED", True):
        return
    actor = actor_for(subject)
    moment = timezone.now()
    reason = _("Recherche fédérée d'un professionnel licencié (%(mode)s).") % {"mode": mode}

    def entry(
        action: str,
        record_type: str,
        record_ids: Sequence[uuid.UUID],
        details: dict[str, Any],
        owner_id: uuid.UUID | None = None,
        person: uuid.UUID | None = None,
    ) -> Any:
        return journal_entry(
            actor=actor,
            action=action,
            decision="permit",
            reason_code="policy_permits",
            reason=reason,
            purpose=query.purpose,
            record_type=record_type,
            record_ids=record_ids,
            owner_id=owner_id,
            subject_person_id=person,
            details=details,
            now=moment,
        )

    entries = [
        entry(
            "federation.search",
            ENTRY if query.type == "directory" else query.type,
            [fact.record_id for fact in facts][:500],
            {"endpoint": query.endpoint, "mode": mode, "filters": dict(query.given), **summary},
        )
    ]
    owners: dict[tuple[str, str, uuid.UUID | None], list[_Fact]] = defaultdict(list)
    for fact in facts:
        if fact.person:
            person = {"origin": fact.origin, "uri": fact.uri, "mode": mode}
            entries.append(entry(ACTION, ENTRY, [fact.record_id], person, fact.owner_id, fact.record_id))
        elif fact.journal:
            owners[(fact.origin, fact.record_type, fact.owner_id)].append(fact)
    for (origin, record_type, owner_id), items in owners.items():
        grant = {"origin": origin, "policy": items[0].policy_uid, "mode": mode}
        entries.append(entry(ACTION, record_type, [item.record_id for item in items], grant, owner_id))
    journal_many(entries)


def _facts_of(members: Iterable[dict[str, Any]]) -> list[_Fact]:
    """Journal facts of results received from other nodes (persons found are journaled here too)."""
    facts = []
    for member in members:
        record_id = uuid_tail(str(member.get("id", "")))
        if record_id is None:
            continue
        owner = member.get("owner") or {}
        facts.append(
            _Fact(
                record_type=str(member.get("type", "")),
                record_id=record_id,
                owner_id=uuid_tail(str(owner.get("id") or "")),
                origin=str(member.get("origin", "")),
                uri=str(member["id"]),
                person=member.get("type") == ENTRY,
            )
        )
    return facts


# ---------------------------------------------------------------------------- the API


def _index_local() -> None:
    """Bring this node's own records into its index (in-process, cheap when nothing changed)."""
    from federation.replication import index_local

    index_local()


def search(
    endpoint: Endpoint | str,
    params: Mapping[str, Any],
    subject: Subject,
    *,
    mode: str | None = None,
) -> SearchAnswer:
    """Search for `subject` (see the module docstring); validates, refuses, searches, journals."""
    ensure_may_search(subject)
    query = validate(endpoint, params, mode=mode)
    if query.mode == "live":
        return _live_search(query, subject)
    return _index_search(query, subject)


def _index_search(query: SearchQuery, subject: Subject) -> SearchAnswer:
    position = _decode_cursor(query, "index")
    offset = int(position.get("o", 0))
    _index_local()
    searcher = _IndexSearch(query, subject)
    page = searcher.page(offset)
    nodes = index_statuses(page.origin_counts, now=searcher.now)
    results = [_strip(member) for member in page.results]
    next_cursor = (
        encode_cursor({"m": "index", "h": query.fingerprint(), "o": page.next_offset}) if page.has_more else None
    )
    _journal(subject, query, "index", page.facts, {"count": page.count, "nodes": _summary(nodes)})
    return SearchAnswer(mode="index", type=query.type, count=page.count, results=results, nodes=nodes, next=next_cursor)


def _summary(nodes: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [{"node": node["node"], "status": node["status"], "count": node["count"]} for node in nodes]


def _live_search(query: SearchQuery, subject: Subject) -> SearchAnswer:
    from federation import attestation, membership

    position = _decode_cursor(query, "live")
    offsets: dict[str, int] = {str(k): int(v) for k, v in (position.get("o") or {}).items()}
    own = str(settings.NODE_BASE_URL).rstrip("/")
    timeout = float(settings.FEDERATION_SEARCH_TIMEOUT)
    peers = [
        (peer.base_url.rstrip("/"), peer.name)
        for peer in membership.trusted_peers("structure")
        if peer.base_url.rstrip("/") != own
    ]
    token = attestation.issue(subject, purpose=query.purpose)

    def ask(url: str) -> _Reply:
        return ask_node(url, query.endpoint, query.node_params(offsets.get(url, 0)), token, timeout)

    def local() -> tuple[_Page, int]:
        started = time.monotonic()
        _index_local()
        page = _IndexSearch(query, subject, origins=frozenset({own})).page(offsets.get(own, 0))
        return page, int((time.monotonic() - started) * 1000)

    replies, local_answer = fan_out(peers, ask, timeout, local)
    local_page, local_ms = local_answer
    now_iso = _iso(timezone.now())
    sources = [(own, local_page.results, local_page.has_more)]
    sources += [(reply.node, reply.results, reply.has_more) for reply in replies if reply.status == "ok"]
    merged, consumed, has_more = _merge(sources, query.page_size)
    nodes = [
        {
            "node": own,
            "name": str(settings.NODE_NAME),
            "status": "ok",
            "ms": local_ms,
            "count": local_page.count,
            "detail": "",
            "as_of": now_iso,
        }
    ]
    for reply in sorted(replies, key=lambda item: (item.name, item.node)):
        nodes.append(
            {
                "node": reply.node,
                "name": reply.name,
                "status": reply.status,
                "ms": reply.ms,
                "count": reply.count if reply.status == "ok" else 0,
                "detail": _status_detail(reply, timeout),
                "as_of": now_iso if reply.status == "ok" else None,
            }
        )
    next_offsets = {url: offsets.get(url, 0) + consumed.get(url, 0) for url in {own, *[url for url, _n in peers]}}
    next_cursor = encode_cursor({"m": "live", "h": query.fingerprint(), "o": next_offsets}) if has_more else None
    count = local_page.count + sum(reply.count for reply in replies if reply.status == "ok")
    returned = {member["id"] for member in merged}
    local_facts = [fact for fact in local_page.facts if fact.uri in returned or _folded(fact.uri, merged)]
    remote = [member for member in merged if member.get("origin", "").rstrip("/") != own]
    _journal(subject, query, "live", [*local_facts, *_facts_of(remote)], {"count": count, "nodes": _summary(nodes)})
    return SearchAnswer(
        mode="live",
        type=query.type,
        count=count,
        results=[_strip(member) for member in merged],
        nodes=nodes,
        next=next_cursor,
    )


def _folded(uri: str, merged: Iterable[dict[str, Any]]) -> bool:
    return any(uri in member.get("sources", ()) for member in merged)


def search_node(endpoint: str, params: Mapping[str, Any], subject: Subject, *, reader: Any = None) -> dict[str, Any]:
    """(any node) A registry's live search over this node's own records, for the attested professional.

    Validates and refuses like `search` (index mode), brings the node's own records into its index,
    searches them under the node's own policies and, when `reader` (the registry's client as an
    `agreements.Reader`) is given, only what the owners' data-sharing agreements let go to it —
    exactly what its change feed would have given. Journals like the registry does. Returns
    `{"results", "count", "next"}` (results keep `dedupe_key` and `sort` for the registry's merge).
    """
    ensure_may_search(subject)
    query = validate(endpoint, params, mode="index")
    position = _decode_cursor(query, "index")
    offset = int(position.get("o", 0))
    _index_local()
    own = str(settings.NODE_BASE_URL).rstrip("/")
    page = _IndexSearch(query, subject, origins=frozenset({own}), reader=reader).page(offset)
    next_cursor = (
        encode_cursor({"m": "index", "h": query.fingerprint(), "o": page.next_offset}) if page.has_more else None
    )
    _journal(subject, query, "live", page.facts, {"count": page.count, "registry": subject.node})
    return {"results": page.results, "count": page.count, "next": next_cursor}
