"""Light structure peers for bench/bench_campaign.py: the node side of a ministry campaign over loopback.

A *light peer* is one structure node reduced to what answering a campaign costs, speaking the
federation's protocol (docs/federation.md « Signed calls », /work/notes/issue7.md §1) on its own
port with its own Ed25519 key. Many peers live in one process (`serve`): one threaded HTTP server
per peer, all reading one SQLite database (`seed_structures`) where each peer's structure has its
own organisation (URI under the peer's base URL), venues, halls, productions, performances and a
season of ticketing figures.

What a peer does for the ministry, with the project's code:

* ``POST /oauth/token`` (client credentials, ``private_key_jwt``): the request's RFC 9421 signature
  is verified against the ministry's public key (`federation.signing.verify_message` with explicit
  keys); the client assertion (RFC 7523) is verified with that key too (joserfc, Ed25519 only):
  ``iss`` = ``sub`` = ``client_id`` = the ministry's base URL, ``aud`` = this peer's token endpoint,
  unexpired, at most `dataspace.oauth.server.ASSERTION_MAX_LIFETIME` seconds of life, ``jti`` used
  once; the scope must be `indicators:aggregate`. The token is an RFC 9068 JWT signed with the
  peer's key (`dataspace.oauth.tokens`' header and claims).
* ``POST /api/v1/indicators/aggregates``: signature verified (the ministry's key, role ministry);
  the bearer token decoded with the peer's key (signature, ``typ``, ``iss``, ``aud``, expiry),
  issued by this peer, to the node that signed, with the scope; the body validated by
  `dataspace.indicators.partials.parse_ask`; the partial computed by `compute_partial` — the
  functions `partials` itself uses (`partials.contributions`: one `aggregate_per_owner` query per
  grouping, `partials.combine_groupings`, the partial's fields as `partials._partial` writes them,
  after `partials.holders`' question asked of the peer's one structure); the same (ministry,
  campaign) asked again gets the same partial, another request under the same campaign id a 409.
* every answer to a verified request is signed with the peer's key, bound to the request's
  signature (``"signature";req``), as `federation.signing.sign_response` does (its signer, its
  covered components; that function itself reads the node's one key and base URL from the
  settings, which a process of many peers cannot use).

Like a node's, each request opens and closes its own database connection (the settings give a
SQLite node CONN_MAX_AGE=0), and the answers leave with TCP_NODELAY (a server writing headers and
body apart would otherwise wait for the client's delayed ACK).

What a light peer leaves out (the real node's answer also does these; bench_campaign.py reports
them as limits): the decision point per structure (policy and agreement), the stored
`AggregationRequest`, the journal entries, and the database rows of the nonces, the client
assertion's ``jti`` and the issued token (`SeenNonce`, `UsedClientAssertion`, `IssuedToken`):
here they are kept in memory, per peer — replays are refused all the same — because fifty peers
writing into one SQLite file would serialise writes that fifty nodes make in their own databases.

Two unsigned control endpoints serve the benchmark, on any peer's port: `GET /_bench/stats`
returns and resets the process's timings (token answers, aggregate answers, partial computations,
in ms); `POST /_bench/baseline` times `compute_partial` called in this process, one structure after
the other (`measure_baseline`: one node's local aggregate, no HTTP around the timed call), or
`compute_whole_partial` (one node holding every structure of the database).
"""

from __future__ import annotations

import datetime as dt
import json
import random
import secrets
import threading
import time
import uuid
import zoneinfo
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

PARIS = zoneinfo.ZoneInfo("Europe/Paris")
SEASON_START = dt.date(2026, 9, 1)
SEASON_END = dt.date(2027, 6, 30)
TOKEN_PATH = "/oauth/token"  # noqa: S105 - a path, not a secret
AGGREGATES_PATH = "/api/v1/indicators/aggregates"
STATS_PATH = "/_bench/stats"
BASELINE_PATH = "/_bench/baseline"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#: Scope of the ministry's requests (`partials.SCOPE`), the only one a peer grants.
SCOPE = "indicators:aggregate"
TOKEN_LIFETIME = 600  # OAUTH_ACCESS_TOKEN_LIFETIME's default
ASSERTION_LEEWAY = 30
MAX_BODY = 1_000_000

#: (region, weight, départements): where the fictitious structures are (weights ~ the sector's spread).
REGIONS: tuple[tuple[str, int, tuple[str, ...]], ...] = (
    ("Île-de-France", 10, ("75", "92", "93", "94")),
    ("Auvergne-Rhône-Alpes", 7, ("69", "38", "63")),
    ("Occitanie", 5, ("31", "34")),
    ("Nouvelle-Aquitaine", 5, ("33", "87")),
    ("Provence-Alpes-Côte d'Azur", 5, ("13", "06")),
    ("Grand Est", 4, ("67", "54")),
    ("Hauts-de-France", 4, ("59", "80")),
    ("Bretagne", 3, ("35", "29")),
    ("Pays de la Loire", 3, ("44", "49")),
    ("Normandie", 2, ("76", "14")),
    ("Bourgogne-Franche-Comté", 2, ("21", "25")),
    ("Centre-Val de Loire", 2, ("45", "37")),
    ("Corse", 1, ("2A",)),
)
#: A structure's main discipline is drawn with these weights; half its productions are of it.
MAIN_DISCIPLINES = (
    ("theatre", 8),
    ("music", 6),
    ("dance", 3),
    ("circus", 2),
    ("opera", 1),
    ("street_arts", 1),
    ("puppetry", 1),
    ("musical", 1),
    ("multidisciplinary", 2),
)
VENUE_TYPES = ("theatre", "theatre", "theatre", "concert_hall", "music_club", "multipurpose", "big_top", "open_air")
KINDS = ("theatre", "theatre", "music_venue", "festival", "company", "opera")
NAMESPACE = uuid.UUID("6a1c3f0e-4b7d-4c1a-9e55-0b3c2d1e0f99")


def peer_name(index: int) -> str:
    return f"structure-{index + 1:02d}"


def _uuid(index: int, *parts: object) -> uuid.UUID:
    """Deterministic ids: the same run seeds the same figures (demo_figures draws from the ids)."""
    return uuid.uuid5(NAMESPACE, ":".join(["bench-campaign", str(index), *map(str, parts)]))


def _weighted(rng: random.Random, choices: Sequence[tuple[Any, int]]) -> Any:
    return rng.choices([value for value, _w in choices], weights=[weight for _v, weight in choices])[0]


# ---------------------------------------------------------------------------- keys


def new_peer_key(key_dir: Path) -> Any:
    """A new key pair for one peer, made and stored by `dataspace.node.keys` in `key_dir`."""
    from django.test import override_settings

    from dataspace.node import keys

    with override_settings(NODE_KEY_DIR=str(key_dir)):
        return keys.generate_key(dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ"))


def load_peer_key(key_dir: Path) -> Any:
    """The peer's signing key, read by `dataspace.node.keys` (mode 0600 checked)."""
    from django.test import override_settings

    from dataspace.node import keys

    with override_settings(NODE_KEY_DIR=str(key_dir)):
        return keys.signing_key()


# ---------------------------------------------------------------------------- the structures' figures


def _starts(rng: random.Random, young: bool) -> list[dt.datetime]:
    """One performance (an evening), or for a young-audience show a school series: 2 to 4 weekday
    mornings in a row inside one quarter (declared as one row, like the demo's series)."""
    days = (SEASON_END - SEASON_START).days
    day = SEASON_START + dt.timedelta(days=rng.randrange(days + 1))
    if not young or rng.random() < 0.4:
        hour, minute = rng.choice(((20, 0), (20, 30), (19, 0), (16, 0)))
        return [dt.datetime.combine(day, dt.time(hour, minute), tzinfo=PARIS)]
    starts: list[dt.datetime] = []
    quarter = (day.month - 1) // 3
    while len(starts) < rng.randint(2, 4) and day <= SEASON_END and (day.month - 1) // 3 == quarter:
        if day.weekday() < 5:
            starts.append(dt.datetime.combine(day, dt.time(10, 0), tzinfo=PARIS))
        day += dt.timedelta(days=1)
    return starts or [dt.datetime.combine(day - dt.timedelta(days=1), dt.time(14, 30), tzinfo=PARIS)]


def seed_structure(index: int, base_url: str) -> dict[str, Any]:
    """One peer's structure, as its node would hold it: the organisation (origin = the peer), 1 or 2
    venues with 1 or 2 halls each, 15 to 30 productions and a season of 100 to 150 rows of figures
    (one per performance, or per school series), written by `services.record_figures` from
    `demo.demo_figures` — the demo's plausible figures. Deterministic for a given index."""
    from dataspace.indicators import demo, services
    from dataspace.referentials.models import Hall, Organisation, Performance, Production, Venue

    rng = random.Random(f"bench-campaign:{index}")
    region, _weight, departements = _weighted(rng, [((r, w, d), w) for r, w, d in REGIONS])
    departement = rng.choice(departements)
    name = f"Structure fictive n° {index + 1:02d}"
    organisation = Organisation(
        id=_uuid(index, "organisation"),
        origin=base_url,
        name=name,
        legal_name=f"Association {name} (fictive)",
        kind=rng.choice(KINDS),
        region=region,
        departement=departement,
        city=f"Ville fictive {index + 1:02d}",
    )
    venues = [
        Venue(
            id=_uuid(index, "venue", n),
            origin=base_url,
            owner=organisation,
            operator=organisation,
            name=f"Lieu fictif {index + 1:02d}-{n + 1}",
            venue_type=rng.choice(VENUE_TYPES),
            city=organisation.city,
            departement=departement,
            region=region,
        )
        for n in range(rng.randint(1, 2))
    ]
    halls = [
        Hall(
            id=_uuid(index, "hall", v, n),
            origin=base_url,
            owner=organisation,
            venue=venue,
            name=f"Salle {n + 1}",
            seated_capacity=rng.randrange(120, 900, 10),
            wheelchair_places=rng.randint(0, 6),
        )
        for v, venue in enumerate(venues)
        for n in range(rng.randint(1, 2))
    ]
    main = _weighted(rng, MAIN_DISCIPLINES)
    others = [discipline for discipline, _w in MAIN_DISCIPLINES]
    productions = [
        Production(
            id=_uuid(index, "production", n),
            origin=base_url,
            owner=organisation,
            producer=organisation,
            title=f"Spectacle fictif {index + 1:02d}-{n + 1:02d}",
            discipline=main if rng.random() < 0.5 else rng.choice(others),
            audience=Production.Audience.YOUNG if rng.random() < 0.2 else Production.Audience.ALL,
            duration_minutes=rng.randrange(50, 150, 5),
        )
        for n in range(rng.randint(15, 30))
    ]
    rows = rng.randint(100, 150)
    groups: list[list[Performance]] = []
    taken: set[tuple[uuid.UUID, uuid.UUID, dt.datetime]] = set()
    while len(groups) < rows:
        production = rng.choice(productions)
        hall = rng.choice(halls)
        starts = _starts(rng, production.audience == Production.Audience.YOUNG)
        if any((production.pk, hall.pk, start) in taken for start in starts):
            continue
        group = []
        for start in starts:
            taken.add((production.pk, hall.pk, start))
            accessibility = [Performance.Accessibility.WHEELCHAIR] if hall.wheelchair_places else []
            if rng.random() < 0.12:
                accessibility.append(Performance.Accessibility.AUDIO_DESCRIPTION)
            group.append(
                Performance(
                    id=_uuid(index, "performance", production.pk, hall.pk, start.isoformat()),
                    origin=base_url,
                    owner=organisation,
                    production=production,
                    hall=hall,
                    start=start,
                    time_zone="Europe/Paris",
                    status=Performance.Status.SCHEDULED,
                    capacity=hall.seated_capacity,
                    accessibility=accessibility,
                )
            )
        groups.append(group)
    Organisation.objects.bulk_create([organisation])
    Venue.objects.bulk_create(venues)
    Hall.objects.bulk_create(halls)
    Production.objects.bulk_create(productions)
    Performance.objects.bulk_create([performance for group in groups for performance in group], batch_size=500)
    for number, group in enumerate(groups):
        services.record_figures(demo.demo_figures(group, f"BENCH-{index + 1:02d}-{number + 1:04d}"))
    return {
        "id": str(organisation.pk),
        "uri": organisation.uri,
        "name": organisation.name,
        "region": region,
        "rows": rows,
        "performances": sum(len(group) for group in groups),
    }


def seed_structures(peers: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Every peer's structure (see `seed_structure`), in one transaction."""
    from django.db import transaction

    with transaction.atomic():
        return [seed_structure(int(peer["index"]), str(peer["base_url"])) for peer in peers]


# ---------------------------------------------------------------------------- the partial


def compute_partial(ask: Any, *, node: str, structure_id: uuid.UUID, structure_uri: str) -> dict[str, Any] | None:
    """The partial of a node holding one structure, as `partials` makes it (issue 7 §1): None when
    the structure has no figures in the period (the node would answer 403 ``refused``).

    Whether it holds figures in the period is `partials.holders`' question asked of this one
    structure: `holders` itself reads every row of the period, here the 50 peers' rows of the shared
    database, where a node holding one structure reads its own."""
    from dataspace.indicators import partials
    from dataspace.indicators.models import TicketingFigures

    period = {"first_date__gte": ask.period_start, "first_date__lte": ask.period_end}
    if not TicketingFigures.objects.filter(owner_id=structure_id, **period).exists():
        return None
    moment = dt.datetime.now(dt.UTC)
    contributions = partials.contributions(ask, [structure_id])
    return {
        "campaign": str(ask.campaign),
        "node": node.rstrip("/"),
        "as_of": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "period": {"start": ask.period_start.isoformat(), "end": ask.period_end.isoformat()},
        "dimensions": list(ask.dimensions),
        "measures": list(ask.measures),
        "structures": [structure_uri],
        "groupings": partials.combine_groupings(ask, [contributions[structure_id]]),
    }


def compute_whole_partial(ask: Any, *, node: str) -> dict[str, Any]:
    """The partial of ONE node holding every structure of the database (the 50 peers' structures
    hosted together): `partials.holders`, one `partials.contributions` for all of them, combined
    by `partials.combine_groupings` — the centralised alternative to a campaign."""
    from dataspace.indicators import partials

    owners = list(partials.holders(ask))
    contributions = partials.contributions(ask, [owner.pk for owner in owners])
    return {
        "campaign": str(ask.campaign),
        "node": node.rstrip("/"),
        "as_of": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "period": {"start": ask.period_start.isoformat(), "end": ask.period_end.isoformat()},
        "dimensions": list(ask.dimensions),
        "measures": list(ask.measures),
        "structures": [owner.uri for owner in owners],
        "groupings": partials.combine_groupings(ask, [contributions[owner.pk] for owner in owners]),
    }


def measure_baseline(
    peers: Sequence[Peer], request: Mapping[str, Any], calls: int, offset: int, *, whole: bool = False
) -> dict[str, Any]:
    """`calls` timed calls (wall and this thread's CPU, ms) of `compute_partial`, each for one
    structure (cycling from `offset`) as its node would compute its partial for `request` (a
    campaign's body) — or, with `whole`, of `compute_whole_partial` — in this thread on one
    database connection, after one untimed warm-up call."""
    from django.db import connection

    from dataspace.indicators import partials

    ask = partials.parse_ask({**request, "campaign": str(uuid.uuid4())})
    times: list[float] = []
    cpu: list[float] = []
    cells: list[int] = []
    groupings = 0
    try:
        for number in range(calls + 1):
            peer = peers[(offset + number) % len(peers)]
            started, started_cpu = time.perf_counter(), time.thread_time()
            if whole:
                partial: dict[str, Any] | None = compute_whole_partial(ask, node=peer.base_url)
            else:
                partial = compute_partial(
                    ask, node=peer.base_url, structure_id=peer.structure_id, structure_uri=peer.structure_uri
                )
            elapsed, elapsed_cpu = (time.perf_counter() - started) * 1000, (time.thread_time() - started_cpu) * 1000
            if partial is None:
                raise RuntimeError(f"{peer.structure_uri} has no figures in the campaign's period")
            if number:
                times.append(elapsed)
                cpu.append(elapsed_cpu)
                cells.append(sum(len(grouping["cells"]) for grouping in partial["groupings"]))
                groupings = len(partial["groupings"])
    finally:
        connection.close()
    return {"times_ms": times, "cpu_ms": cpu, "cells": cells, "groupings": groupings}


# ---------------------------------------------------------------------------- the server


class _Stats:
    """Timings of this process's answers (ms), read and reset by `GET /_bench/stats`."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.values: dict[str, list[float]] = {"token_ms": [], "aggregate_ms": [], "compute_ms": []}

    def add(self, name: str, seconds: float) -> None:
        with self.lock:
            self.values[name].append(seconds * 1000)

    def take(self) -> dict[str, list[float]]:
        with self.lock:
            taken = self.values
            self.values = {name: [] for name in taken}
        return taken


STATS = _Stats()


@dataclass
class Ministry:
    """The one client of the peers: its base URL and public key (RFC 9421 and client assertions)."""

    base_url: str
    jwk: dict[str, str]
    public_key: Any = None
    assertion_key: Any = None

    def __post_init__(self) -> None:
        from joserfc.jwk import OKPKey

        from federation.membership import parse_jwks

        self.base_url = self.base_url.rstrip("/")
        self.public_key = parse_jwks({"keys": [self.jwk]})[self.jwk["kid"]]
        self.assertion_key = OKPKey.import_key(dict(self.jwk))

    def keys(self) -> dict[str, Any]:
        """The verifier's entry: kid -> (SignedPeer, public key)."""
        from federation.signing import SignedPeer

        peer = SignedPeer(base_url=self.base_url, name="ministère (bench)", roles=("ministry",), kid=self.jwk["kid"])
        return {self.jwk["kid"]: (peer, self.public_key)}


@dataclass
class Peer:
    """One light structure node: its base URL, key, structure, and what it remembers."""

    index: int
    base_url: str
    key: Any
    structure_id: uuid.UUID
    structure_uri: str
    ministry: Ministry
    lock: threading.Lock = field(default_factory=threading.Lock)
    nonces: set[tuple[str, str]] = field(default_factory=set)
    assertions: set[str] = field(default_factory=set)
    tokens: set[str] = field(default_factory=set)
    answers: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    token_key: Any = None

    def __post_init__(self) -> None:
        from joserfc.jwk import OKPKey

        self.token_key = OKPKey.import_key(dict(self.key.public_jwk()))  # verifies the tokens it issued

    @property
    def token_endpoint(self) -> str:
        return f"{self.base_url}{TOKEN_PATH}"

    def remember(self, store: set[Any], value: Any) -> bool:
        """Add `value` to `store`; False when it was there already (a replay)."""
        with self.lock:
            if value in store:
                return False
            store.add(value)
            return True


class Refusal(Exception):
    """An answer other than 200: its status and JSON body."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body


def _verify_signature(peer: Peer, method: str, path: str, headers: Any, body: bytes) -> Any:
    """The ministry's verified signature of this request (`federation.signing.verify_message`
    against the ministry's key only; the nonce remembered by the peer), or Refusal 401."""
    from federation.signing import SignatureRefused, verify_message

    try:
        verified = verify_message(
            method, f"{peer.base_url}{path}", headers, body, keys=peer.ministry.keys(), record_nonce=False
        )
    except SignatureRefused as refused:
        raise Refusal(401, {"error": refused.code, "detail": refused.detail}) from None
    if not peer.remember(peer.nonces, (verified.keyid, verified.nonce)):
        raise Refusal(401, {"error": "replayed", "detail": "Cette signature a déjà été utilisée."})
    return verified


def _token_answer(peer: Peer, body: bytes) -> dict[str, Any]:
    """Client credentials with a private_key_jwt assertion of the ministry -> an access token."""
    from joserfc import jwt
    from joserfc.errors import JoseError
    from joserfc.jwk import OKPKey

    from dataspace.oauth.server import ASSERTION_MAX_LIFETIME
    from dataspace.oauth.tokens import ALGORITHM, TOKEN_TYPE

    form = {name: values[0] for name, values in parse_qs(body.decode("ascii", "replace")).items()}
    if form.get("grant_type") != "client_credentials":
        raise Refusal(400, {"error": "unsupported_grant_type"})
    client_id = form.get("client_id", "").rstrip("/")
    if client_id != peer.ministry.base_url or form.get("client_assertion_type") != ASSERTION_TYPE:
        raise Refusal(401, {"error": "invalid_client"})
    try:
        assertion = jwt.decode(form.get("client_assertion", ""), peer.ministry.assertion_key, algorithms=[ALGORITHM])
    except (JoseError, ValueError):
        raise Refusal(401, {"error": "invalid_client", "error_description": "Invalid client assertion."}) from None
    claims, now = assertion.claims, time.time()
    exp = claims.get("exp")
    if (
        claims.get("iss") != client_id
        or claims.get("sub") != client_id
        or peer.token_endpoint not in (claims["aud"] if isinstance(claims.get("aud"), list) else [claims.get("aud")])
        or not isinstance(exp, int | float)
        or exp < now - ASSERTION_LEEWAY
        or exp - now > ASSERTION_MAX_LIFETIME
        or not claims.get("jti")
    ):
        raise Refusal(401, {"error": "invalid_client", "error_description": "Client assertion refused (claims)."})
    if not peer.remember(peer.assertions, str(claims["jti"])):
        raise Refusal(401, {"error": "invalid_client", "error_description": "Client assertion replayed."})
    scopes = form.get("scope", SCOPE).split()
    if any(scope != SCOPE for scope in scopes):
        raise Refusal(400, {"error": "invalid_scope"})
    issued = int(now)
    token_claims = {
        "iss": peer.base_url,
        "sub": client_id,
        "aud": peer.base_url,
        "client_id": client_id,
        "scope": SCOPE,
        "iat": issued,
        "exp": issued + TOKEN_LIFETIME,
        "jti": secrets.token_urlsafe(16),
    }
    header = {"alg": ALGORITHM, "typ": TOKEN_TYPE, "kid": peer.key.kid}
    private = OKPKey.import_key(peer.key.private_key, {"kid": peer.key.kid})
    token = jwt.encode(header, token_claims, private, algorithms=[ALGORITHM])
    peer.remember(peer.tokens, token_claims["jti"])
    return {"access_token": token, "token_type": "Bearer", "expires_in": TOKEN_LIFETIME, "scope": SCOPE}


def _check_token(peer: Peer, authorization: str, signer: str) -> None:
    """The bearer token: this peer's, unexpired, of the node that signed, with the scope
    (`dataspace.oauth.tokens.decode_access_token`'s checks and `SignedMemberPermission`'s rule)."""
    from joserfc import jwt
    from joserfc.errors import JoseError

    from dataspace.oauth.tokens import ALGORITHM, TOKEN_TYPE

    scheme, _space, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Refusal(401, {"error": "token_required"})
    try:
        decoded = jwt.decode(token, peer.token_key, algorithms=[ALGORITHM])
    except (JoseError, ValueError):
        raise Refusal(401, {"error": "invalid_token"}) from None
    claims = decoded.claims
    if (
        decoded.header.get("typ") != TOKEN_TYPE
        or claims.get("iss") != peer.base_url
        or claims.get("aud") != peer.base_url
        or not isinstance(claims.get("exp"), int)
        or claims["exp"] <= time.time()
        or str(claims.get("jti")) not in peer.tokens
    ):
        raise Refusal(401, {"error": "invalid_token"})
    if str(claims.get("client_id", "")).rstrip("/") != signer.rstrip("/"):
        raise Refusal(403, {"error": "signature_required", "detail": "Le jeton n'appartient pas au signataire."})
    if SCOPE not in str(claims.get("scope", "")).split():
        raise Refusal(403, {"error": "insufficient_scope"})


def _aggregate_answer(peer: Peer, body: bytes) -> dict[str, Any]:
    from django.core.exceptions import ValidationError

    from dataspace.indicators import partials

    try:
        document = json.loads(body)
    except ValueError:
        raise Refusal(400, {"campaign": ["Corps JSON attendu."]}) from None
    try:
        ask = partials.parse_ask(document)
    except ValidationError as exc:
        raise Refusal(400, dict(exc.message_dict)) from None
    campaign = str(ask.campaign)
    with peer.lock:
        known = peer.answers.get(campaign)
    if known is not None:
        if known[0] != ask.fingerprint:
            raise Refusal(409, {"error": "changed_request", "detail": "Autre demande sous le même identifiant."})
        return known[1]
    started = time.perf_counter()
    partial = compute_partial(ask, node=peer.base_url, structure_id=peer.structure_id, structure_uri=peer.structure_uri)
    STATS.add("compute_ms", time.perf_counter() - started)
    if partial is None:
        raise Refusal(403, {"error": "refused", "detail": "Aucune structure de ce nœud ne détient de chiffres."})
    with peer.lock:
        known = peer.answers.setdefault(campaign, (ask.fingerprint, partial))
    return known[1]


def sign_answer(
    peer: Peer, verified: Any, *, method: str, path: str, request_headers: Any, status: int, body: bytes
) -> dict[str, str]:
    """The answer's headers (Content-Type, Content-Digest, Signature-Input, Signature), signed with
    the peer's key over its status, digest, type and the request's signature — what
    `federation.signing.sign_response` covers, with its signer and profile."""
    from federation import signing

    headers = {"Content-Type": "application/json"}
    signing.sign_response_headers(
        headers,
        status=status,
        body=body,
        request_method=method,
        request_url=f"{peer.base_url}{path}",
        request_headers=dict(request_headers.items()),
        request_label=verified.label,
        key=peer.key,
    )
    return headers


class PeerHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 (keep-alive) handler of one peer's port."""

    protocol_version = "HTTP/1.1"
    #: TCP_NODELAY: the headers and the body leave as two writes; with Nagle's algorithm the body
    #: would wait for the client's delayed ACK (40 ms on Linux loopback) — a server's artefact.
    disable_nagle_algorithm = True
    server: PeerServer

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _send(self, status: int, body: bytes, headers: Mapping[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path.split("?")[0] == STATS_PATH:
            self._send(200, json.dumps(STATS.take()).encode(), {"Content-Type": "application/json"})
            return
        self._send(404, b'{"error": "not_found"}', {"Content-Type": "application/json"})

    def do_POST(self) -> None:
        from django.db import connection

        started = time.perf_counter()
        peer = self.server.peer
        path = self.path
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if 0 < length <= MAX_BODY else b""
        if path == BASELINE_PATH:
            order = json.loads(body)
            result = measure_baseline(
                SERVED, order["request"], int(order["calls"]), int(order["offset"]), whole=bool(order.get("whole"))
            )
            self._send(200, json.dumps(result).encode(), {"Content-Type": "application/json"})
            return
        verified = None
        try:
            if path not in (TOKEN_PATH, AGGREGATES_PATH):
                raise Refusal(404, {"error": "not_found"})
            verified = _verify_signature(peer, "POST", path, self.headers, body)
            if path == TOKEN_PATH:
                status, document, timing = 200, _token_answer(peer, body), "token_ms"
            else:
                _check_token(peer, self.headers.get("Authorization", ""), verified.peer.base_url)
                status, document, timing = 200, _aggregate_answer(peer, body), "aggregate_ms"
        except Refusal as refusal:
            status, document, timing = refusal.status, refusal.body, ""
        except Exception as exc:  # noqa: BLE001 - a peer answers 500 rather than hang the ministry
            status, document, timing = 500, {"error": "server_error", "detail": exc.__class__.__name__}, ""
        finally:
            connection.close()  # this thread's database connection (CONN_MAX_AGE=0, as a node's request)
        payload = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json"}
        if verified is not None:
            headers = sign_answer(
                peer, verified, method="POST", path=path, request_headers=self.headers, status=status, body=payload
            )
        self._send(status, payload, headers)
        if timing:
            STATS.add(timing, time.perf_counter() - started)


class PeerServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, peer: Peer, port: int) -> None:
        self.peer = peer
        super().__init__(("127.0.0.1", port), PeerHandler)


#: The peers this process serves.
SERVED: list[Peer] = []


def serve(peers: Sequence[Peer], ports: Sequence[int]) -> list[PeerServer]:
    """One server per peer on its port, each in a daemon thread (they stop with the process)."""
    SERVED[:] = peers
    servers = [PeerServer(peer, port) for peer, port in zip(peers, ports, strict=True)]
    for server in servers:
        # select() wakes at once for a connection; the long poll interval keeps idle servers idle
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 3600}, daemon=True).start()
    return servers


def build_peers(documents: Sequence[Mapping[str, Any]], ministry: Ministry) -> Iterator[Peer]:
    """The `Peer` objects of seeded peer documents (their keys loaded from their key directories)."""
    for document in documents:
        yield Peer(
            index=int(document["index"]),
            base_url=str(document["base_url"]),
            key=load_peer_key(Path(document["key_dir"])),
            structure_id=uuid.UUID(document["structure"]["id"]),
            structure_uri=str(document["structure"]["uri"]),
            ministry=ministry,
        )
