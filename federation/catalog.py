"""The node's DCAT 3 catalog with the ODRL policy of every dataset (DESIGN.md §4, §6; docs/federation.md).

`catalog_document()` is what `GET /api/v1/catalog` serves to anyone (JSON-LD, context inlined):

* one `dcat:Catalog` for the node: `dct:title` (the node's name), `dct:publisher` (the
  organisation running the node, else the node itself), `foaf:homepage`, `dct:modified`, the API
  as a `dcat:DataService`, and its datasets;
* one `dcat:Dataset` per (owner, governed record type) with at least one record on this node that
  may leave it — its URI is `policies.services.dataset_uri(owner, type)`, the very target of the
  owner's dataset policy. Each has `dct:publisher` (the owner), `dct:modified`, the record count
  (`void:entities`), `dct:accessRights` (EU access-right vocabulary: PUBLIC when anyone may read it
  without credentials, else RESTRICTED), two distributions (the API collection filtered by owner,
  and the change feed `/api/v1/changes?types=…` with its access rule) and `odrl:hasPolicy`: the
  dataset's policy (the owner's active one, else the node's default for the type) followed by the
  record-level overrides of that dataset, each an ODRL `Set` exactly as stored (its `@context`
  moved to the catalog's) with a French sentence (`dct:description`).

What never appears: records under option (they never leave the node), records their owner hid
(`policies.models.HiddenRecord`) — neither in counts nor through their override policies — and
anything of a record beyond the counts and policies. Policies themselves are public by design.

The context is inlined (DCAT, DCTERMS, FOAF, VoID, the ODRL terms our profile uses and the
profile's own terms from `policies.odrl.inline_context`): reading the catalog fetches nothing from
a third party (rdflib parses it offline).

The document is cached (Django cache) keyed by the policy generation, the last change number, the
node's identity and the language, and for `CACHE_SECONDS` at most (time-bound policies move from
public to restricted by the clock alone).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, F, Max, Model, QuerySet
from django.db.models.functions import Coalesce
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from policies.language import PolicyDoc, PolicyError
from policies.odrl import ODRL_NS, PROFILE_IRI, inline_context, to_odrl

CATALOG_PATH = "/api/v1/catalog"
CHANGES_PATH = "/api/v1/changes"
#: Longest time a rendered catalog is reused (seconds).
CACHE_SECONDS = 300
_CACHE_PREFIX = "federation:catalog"

DCAT = "http://www.w3.org/ns/dcat#"
DCT = "http://purl.org/dc/terms/"
FOAF = "http://xmlns.com/foaf/0.1/"
VOID = "http://rdfs.org/ns/void#"
RDFS = "http://www.w3.org/2000/01/rdf-schema#"
XSD = "http://www.w3.org/2001/XMLSchema#"
#: Scène Commune's own namespace for the referentials (as `dataspace.referentials.jsonld.SC`).
SCN = "https://scene-commune.fr/ns#"
MEDIA_TYPES = "https://www.iana.org/assignments/media-types/"
ACCESS_RIGHTS = "http://publications.europa.eu/resource/authority/access-right/"
PUBLIC = ACCESS_RIGHTS + "PUBLIC"
RESTRICTED = ACCESS_RIGHTS + "RESTRICTED"

#: The ODRL 2.2 terms the profile's documents use, with the coercions of the W3C ODRL context
#: (http://www.w3.org/ns/odrl.jsonld), so that the policies parse without fetching it.
_ODRL_TERMS: dict[str, Any] = {
    "odrl": ODRL_NS,
    "uid": "@id",
    "Policy": "odrl:Policy",
    "Set": "odrl:Set",
    "Offer": "odrl:Offer",
    "Agreement": "odrl:Agreement",
    "profile": {"@id": "odrl:profile", "@type": "@id"},
    "target": {"@id": "odrl:target", "@type": "@id"},
    "assigner": {"@id": "odrl:assigner", "@type": "@id"},
    "assignee": {"@id": "odrl:assignee", "@type": "@id"},
    "permission": {"@id": "odrl:permission", "@type": "@id"},
    "prohibition": {"@id": "odrl:prohibition", "@type": "@id"},
    "duty": {"@id": "odrl:duty", "@type": "@id"},
    "constraint": {"@id": "odrl:constraint", "@type": "@id"},
    "action": {"@id": "odrl:action", "@type": "@vocab"},
    "leftOperand": {"@id": "odrl:leftOperand", "@type": "@vocab"},
    "operator": {"@id": "odrl:operator", "@type": "@vocab"},
    "rightOperand": "odrl:rightOperand",
    "hasPolicy": {"@id": "odrl:hasPolicy", "@type": "@id"},
    **{
        name: f"odrl:{name}"
        for name in (
            "read",
            "modify",
            "aggregate",
            "attribute",
            "purpose",
            "dateTime",
            "elapsedTime",
            "count",
            "recipient",
            "eq",
            "neq",
            "lt",
            "lteq",
            "gt",
            "gteq",
            "isAnyOf",
            "isNoneOf",
        )
    },
}


def context() -> dict[str, Any]:
    """The catalog's inline JSON-LD context (nothing to fetch)."""
    return {
        "dcat": DCAT,
        "dct": DCT,
        "foaf": FOAF,
        "void": VOID,
        "rdfs": RDFS,
        "scn": SCN,
        **_ODRL_TERMS,
        **inline_context(),  # the profile's terms (sc: = the profile namespace) and xsd:
        "dct:modified": {"@type": "xsd:dateTime"},
        "dct:issued": {"@type": "xsd:dateTime"},
        "foaf:homepage": {"@type": "@id"},
        "dcat:accessURL": {"@type": "@id"},
        "dcat:endpointURL": {"@type": "@id"},
        "dcat:endpointDescription": {"@type": "@id"},
        "dcat:mediaType": {"@type": "@id"},
        "dct:accessRights": {"@type": "@id"},
        "void:entities": {"@type": "xsd:integer"},
    }


# ---------------------------------------------------------------------------- reading the node


@dataclass
class DatasetFacts:
    """What the catalog says of one (owner, type) dataset."""

    owner_id: uuid.UUID
    record_type: str
    count: int
    modified: dt.datetime | None
    #: Record-level override policies of visible records of this dataset.
    overrides: list[Any] = field(default_factory=list)


def _governed_models() -> dict[str, type[Model]]:
    from policies.services import governed_types, target_model

    return {name: target_model(name) for name in governed_types()}


def _published(model: type[Model], hidden: set[uuid.UUID]) -> QuerySet[Any]:
    """The records of `model` that may leave the node: no option, nothing hidden by its owner."""
    from dataspace.referentials.models import Performance
    from dataspace.referentials.services import visible_performances

    queryset: QuerySet[Any] = model._default_manager.all()
    if model is Performance:
        queryset = visible_performances(queryset, node_staff=False)
    if hidden:
        queryset = queryset.exclude(pk__in=hidden)
    return queryset


def _owner_expression(record_type: str) -> Any:
    # An organisation describing itself (no owner) is its own owner (`policies.pdp.owner_of`).
    return Coalesce("owner_id", "id") if record_type == "organisation" else F("owner_id")


def collect_datasets() -> list[DatasetFacts]:
    """Every (owner, governed type) with published records, with counts, last change and overrides.

    One aggregate query per governed type, one for hidden records, one for the override policies
    (plus one per type that has overrides, to keep only those of published records).
    """
    from policies.models import HiddenRecord, Policy

    hidden: dict[str, set[uuid.UUID]] = defaultdict(set)
    for target_type, target_id in HiddenRecord.objects.values_list("target_type", "target_id"):
        hidden[target_type].add(target_id)
    models = _governed_models()
    found: dict[tuple[uuid.UUID, str], DatasetFacts] = {}
    for record_type, model in models.items():
        rows = (
            _published(model, hidden[record_type])
            .annotate(dataset_owner=_owner_expression(record_type))
            .values("dataset_owner")
            .annotate(records=Count("pk"), modified=Max("updated_at"))
            .order_by()
        )
        for row in rows:
            owner = row["dataset_owner"]
            if owner is None or not row["records"]:
                continue
            found[(owner, record_type)] = DatasetFacts(
                owner_id=owner, record_type=record_type, count=int(row["records"]), modified=row["modified"]
            )
    overrides: dict[str, list[Any]] = defaultdict(list)
    for policy in Policy.objects.filter(active=True, target_id__isnull=False).order_by("target_type", "created_at"):
        overrides[policy.target_type].append(policy)
    for record_type, policies in overrides.items():
        governed = models.get(record_type)
        if governed is None:
            continue
        ids = [policy.target_id for policy in policies]
        visible = set(_published(governed, hidden[record_type]).filter(pk__in=ids).values_list("pk", flat=True))
        for policy in policies:
            facts = found.get((policy.owner_id, record_type))
            if policy.target_id in visible and facts is not None:
                facts.overrides.append(policy)
    return sorted(found.values(), key=lambda facts: (str(facts.owner_id), facts.record_type))


# ---------------------------------------------------------------------------- building the document


def _iso(moment: dt.datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _french(text: str) -> dict[str, str]:
    return {"@value": text, "@language": (get_language() or settings.LANGUAGE_CODE).split("-")[0]}


def _agent(uri: str, name: str) -> dict[str, Any]:
    return {"@id": uri, "@type": "foaf:Organization", "foaf:name": name}


def _policy_node(odrl: dict[str, Any], doc: PolicyDoc, owner_name: str) -> dict[str, Any]:
    """An ODRL document as a node of the catalog: its own `@context` goes (the catalog's has its
    terms), a French sentence says what it permits."""
    from policies.sentences import sentence

    node = {key: value for key, value in odrl.items() if key != "@context"}
    try:
        text = sentence(doc, owner_name=owner_name)
    except (PolicyError, ValueError, KeyError):  # a sentence is a courtesy; the ODRL is the policy
        text = ""
    if text:
        node["dct:description"] = _french(text)
    return node


def _stored_policy(policy: Any, owner_name: str) -> tuple[dict[str, Any], PolicyDoc]:
    from policies.services import policy_doc

    try:
        doc = policy_doc(policy)
    except PolicyError:  # outside the profile: the decision point denies everything under it
        doc = PolicyDoc(uid=policy.uri, rules=())
    odrl = dict(policy.odrl) if isinstance(policy.odrl, dict) and policy.odrl else {}
    if not odrl:
        odrl = to_odrl(doc, target=policy.uri, assigner="")
    return _policy_node(odrl, doc, owner_name), doc


def _access_right(doc: PolicyDoc, now: dt.datetime) -> str:
    from policies.pdp import CompiledPolicy, is_public

    return PUBLIC if is_public(CompiledPolicy(doc=doc, scope="dataset"), "read", now) else RESTRICTED


def _collection_url(base: str, record_type: str) -> str:
    try:
        return f"{base}{reverse(f'{record_type}-list')}"
    except NoReverseMatch:  # a governed type the API does not route (none today)
        return f"{base}/api/v1/"


def _type_label(record_type: str) -> str:
    from policies.models import GOVERNED_TYPES

    labels = {name: str(label) for name, label in GOVERNED_TYPES}
    return labels.get(record_type, record_type)


def _dataset_node(facts: DatasetFacts, owner: Any, dataset_policy: Any, now: dt.datetime) -> dict[str, Any]:
    from policies.services import dataset_uri, default_policy_doc

    base = str(settings.NODE_BASE_URL)
    record_type = facts.record_type
    if dataset_policy is not None:
        policy_node, doc = _stored_policy(dataset_policy, owner.name)
    else:
        doc = default_policy_doc(record_type)
        target = dataset_uri(owner, record_type)
        policy_node = _policy_node(to_odrl(doc, target=target, assigner=owner.uri), doc, owner.name)
    policies = [policy_node] + [_stored_policy(policy, owner.name)[0] for policy in facts.overrides]
    label = _type_label(record_type)
    collection = f"{_collection_url(base, record_type)}?owner={facts.owner_id}"
    feed = f"{base}{CHANGES_PATH}?types={record_type}"
    node: dict[str, Any] = {
        "@id": dataset_uri(owner, record_type),
        "@type": "dcat:Dataset",
        "dct:identifier": f"{facts.owner_id}/{record_type}",
        "dct:title": _french(_("%(type)s — %(owner)s") % {"type": label.capitalize(), "owner": owner.name}),
        "dct:description": _french(
            _("Fiches « %(type)s » saisies par %(owner)s sur ce nœud, sous la politique d'usage indiquée.")
            % {"type": label, "owner": owner.name}
        ),
        "dct:publisher": _agent(owner.uri, owner.name),
        "scn:recordType": record_type,
        "dcat:keyword": _french(label),
        "void:entities": facts.count,
        "dct:accessRights": _access_right(doc, now),
        "odrl:hasPolicy": policies,
        "dcat:distribution": [
            {
                "@type": "dcat:Distribution",
                "dct:title": _french(_("API du nœud (JSON ; JSON-LD schema.org sur demande)")),
                "dcat:accessURL": collection,
                "dcat:mediaType": MEDIA_TYPES + "application/ld+json",
                "dct:description": _french(
                    _(
                        "Collection paginée filtrée par propriétaire ; JSON par défaut, JSON-LD avec "
                        "« Accept: application/ld+json ». Chaque lecture passe par la politique d'usage."
                    )
                ),
                "dcat:accessService": {"@id": f"{base}/api/v1/"},
            },
            {
                "@type": "dcat:Distribution",
                "dct:title": _french(_("Flux de changements (créations, modifications, pierres tombales)")),
                "dcat:accessURL": feed,
                "dcat:mediaType": MEDIA_TYPES + "application/json",
                "dct:accessRights": {
                    "@type": "dct:RightsStatement",
                    "rdfs:label": _french(
                        _(
                            "Jeton OAuth portant la portée federation:sync (nœuds membres, partenaires) ; "
                            "seuls les jeux de données couverts par un accord de partage du propriétaire "
                            "en vigueur sont transmis."
                        )
                    ),
                },
            },
        ],
    }
    if facts.modified is not None:
        node["dct:modified"] = _iso(facts.modified)
    return node


def build_catalog(*, now: dt.datetime | None = None) -> dict[str, Any]:
    """The catalog document, computed now (see the module docstring)."""
    from dataspace.node.services import current_identity
    from dataspace.referentials.models import Organisation
    from policies.models import Policy

    moment = now or timezone.now()
    base = str(settings.NODE_BASE_URL)
    datasets = collect_datasets()
    owners = Organisation.objects.in_bulk({facts.owner_id for facts in datasets})
    dataset_policies = {
        (policy.owner_id, policy.target_type): policy
        for policy in Policy.objects.filter(active=True, target_id__isnull=True)
    }
    nodes = [
        _dataset_node(facts, owners[facts.owner_id], dataset_policies.get((facts.owner_id, facts.record_type)), moment)
        for facts in datasets
        if facts.owner_id in owners
    ]
    identity = current_identity()
    if identity is not None and identity.organisation is not None:
        publisher = _agent(identity.organisation.uri, identity.organisation.name)
    else:
        publisher = {"@id": base, "@type": "foaf:Agent", "foaf:name": str(settings.NODE_NAME)}
    modified = max((facts.modified for facts in datasets if facts.modified is not None), default=None)
    document: dict[str, Any] = {
        "@context": context(),
        "@id": f"{base}{CATALOG_PATH}",
        "@type": "dcat:Catalog",
        "dct:title": str(settings.NODE_NAME),
        "dct:description": _french(
            _(
                "Jeux de données publiés par ce nœud de Scène Commune, chacun avec sa politique d'usage "
                "(ODRL) ; les données restent à leur propriétaire."
            )
        ),
        "dct:publisher": publisher,
        "foaf:homepage": f"{base}/",
        "dct:conformsTo": {"@id": PROFILE_IRI},
        "dcat:service": {
            "@id": f"{base}/api/v1/",
            "@type": "dcat:DataService",
            "dct:title": _french(_("API REST du nœud")),
            "dcat:endpointURL": f"{base}/api/v1/",
            "dcat:endpointDescription": f"{base}/api/schema/",
        },
        "dcat:dataset": nodes,
    }
    if modified is not None:
        document["dct:modified"] = _iso(modified)
    return document


def _cache_key() -> str:
    from dataspace.node.models import NodeIdentity
    from dataspace.records.models import Change
    from policies.services import policy_generation

    last_change = Change.objects.aggregate(last=Max("seq"))["last"] or 0
    identity = NodeIdentity.objects.filter(pk=1).values_list("updated_at", "organisation_id").first()
    marker = f"{identity[0].timestamp()}:{identity[1]}" if identity else "-"
    parts = [
        str(get_language() or settings.LANGUAGE_CODE),
        str(policy_generation()),
        str(last_change),
        marker,
        str(settings.NODE_BASE_URL),
        str(settings.NODE_NAME),
    ]
    return f"{_CACHE_PREFIX}:{hashlib.sha256('|'.join(parts).encode()).hexdigest()}"


def catalog_document() -> dict[str, Any]:
    """The catalog, from the cache when nothing it depends on changed (two small queries)."""
    key = _cache_key()
    document = cache.get(key)
    if document is None:
        document = build_catalog()
        cache.set(key, document, timeout=CACHE_SECONDS)
    return document
