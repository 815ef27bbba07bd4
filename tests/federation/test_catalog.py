"""GET /api/v1/catalog: a DCAT 3 catalog in JSON-LD with each dataset's ODRL policy, parsed by
rdflib with the network switched off; restricted datasets show their restriction; nothing of a
record beyond counts and policies, and nothing of options or hidden records."""

from __future__ import annotations

import datetime as dt
import json
import socket
from typing import Any

import pytest
from rdflib import RDF, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, XSD

from dataspace.node.models import NodeIdentity
from federation import catalog
from policies import controls
from policies.services import dataset_uri, default_policy_uid, save_policy
from tests.factories import OrganisationFactory, PerformanceFactory, ProductionFactory, VenueFactory

pytestmark = pytest.mark.django_db

ODRL = Namespace("http://www.w3.org/ns/odrl/2/")
PROFILE = Namespace("https://scene-commune.example/odrl/profile/v1#")
VOID = Namespace("http://rdfs.org/ns/void#")
ACCESS = Namespace("http://publications.europa.eu/resource/authority/access-right/")
LD = {"HTTP_ACCEPT": "application/ld+json"}


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: Any) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("JSON-LD parsing tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture(autouse=True)
def _fresh_catalog_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """A cache namespace of its own per test (test databases reuse change numbers, hence cache keys).
    Not `cache.clear()`: on Redis it flushes the database that the other xdist worker's tests use
    (the portal's throttle counters)."""
    import uuid

    from federation import catalog

    monkeypatch.setattr(catalog, "_CACHE_PREFIX", f"federation:catalog:test-{uuid.uuid4().hex}")


def graph_of(response: Any) -> Graph:
    assert response.status_code == 200, response.content
    return Graph().parse(data=response.content.decode(), format="json-ld")


def node_base() -> str:
    from django.conf import settings

    return str(settings.NODE_BASE_URL)


@pytest.fixture
def federation_data(structure: Any) -> dict[str, Any]:
    """The node's structure (public productions, one licensed-only venue set) and a second owner."""
    NodeIdentity.objects.update_or_create(
        pk=1,
        defaults={"name": "Nœud d'essai", "base_url": node_base(), "roles": ["structure"], "organisation": structure},
    )
    other = OrganisationFactory(name="Compagnie Voisine")
    productions = [ProductionFactory(owner=structure, title=f"Spectacle {n}") for n in range(3)]
    venues = [VenueFactory(owner=structure, name=f"Lieu {n}") for n in range(2)]
    other_production = ProductionFactory(owner=other, title="Création voisine")
    save_policy(owner=structure, target_type="venue", templates=[{"name": "licensed_only"}])
    return {
        "structure": structure,
        "other": other,
        "productions": productions,
        "venues": venues,
        "other_production": other_production,
    }


def test_catalog_parses_offline_with_datasets_publishers_and_policies(
    anon_client: Any, federation_data: dict[str, Any]
) -> None:
    structure, other = federation_data["structure"], federation_data["other"]
    response = anon_client.get("/api/v1/catalog", **LD)
    assert response["Content-Type"].startswith("application/ld+json")
    g = graph_of(response)

    cat = URIRef(f"{node_base()}/api/v1/catalog")
    assert (cat, RDF.type, DCAT.Catalog) in g
    assert g.value(cat, DCTERMS.title) == Literal("Nœud d'essai") or g.value(cat, DCTERMS.title) is not None
    assert g.value(cat, DCTERMS.publisher) == URIRef(structure.uri)
    assert g.value(URIRef(structure.uri), FOAF.name) == Literal(structure.name)
    assert g.value(cat, FOAF.homepage) == URIRef(f"{node_base()}/")
    assert g.value(cat, DCTERMS.modified).datatype == XSD.dateTime

    datasets = set(g.objects(cat, DCAT.dataset))
    expected = {
        URIRef(dataset_uri(structure, "production")),
        URIRef(dataset_uri(structure, "venue")),
        URIRef(dataset_uri(other, "production")),
        URIRef(dataset_uri(structure, "organisation")),  # the structure describes itself
        URIRef(dataset_uri(other, "organisation")),
    }
    assert expected <= datasets
    # the factories also created the productions' producers (organisations of their own)
    for dataset in datasets:
        assert (dataset, RDF.type, DCAT.Dataset) in g
        publisher = g.value(dataset, DCTERMS.publisher)
        assert publisher is not None
        assert g.value(publisher, FOAF.name) is not None
        policies = list(g.objects(dataset, ODRL.hasPolicy))
        assert policies, f"{dataset} has no policy"
        for policy in policies:
            assert (policy, RDF.type, ODRL.Set) in g
        assert g.value(dataset, DCTERMS.modified).datatype == XSD.dateTime
        distributions = list(g.objects(dataset, DCAT.distribution))
        assert len(distributions) == 2
        assert all(g.value(d, DCAT.accessURL) is not None for d in distributions)

    productions = URIRef(dataset_uri(structure, "production"))
    assert g.value(productions, VOID.entities).toPython() == 3
    assert g.value(URIRef(dataset_uri(other, "production")), VOID.entities).toPython() == 1
    # no policy of its own: the node's default (public) one, readable here
    [default] = list(g.objects(productions, ODRL.hasPolicy))
    assert default == URIRef(default_policy_uid("production"))
    assert g.value(productions, DCTERMS.accessRights) == ACCESS.PUBLIC
    permission = g.value(default, ODRL.permission)
    assert (permission, ODRL.action, ODRL.read) in g
    assert (permission, ODRL.action, PROFILE.redistribute) in g
    urls = {str(g.value(d, DCAT.accessURL)) for d in g.objects(productions, DCAT.distribution)}
    assert urls == {
        f"{node_base()}/api/v1/productions/?owner={structure.pk}",
        f"{node_base()}/api/v1/changes?types=production",
    }
    feed = next(d for d in g.objects(productions, DCAT.distribution) if "changes" in str(g.value(d, DCAT.accessURL)))
    rights = g.value(feed, DCTERMS.accessRights)
    assert "federation:sync" in str(g.value(rights, URIRef("http://www.w3.org/2000/01/rdf-schema#label")))
    assert g.value(feed, DCAT.mediaType) == URIRef("https://www.iana.org/assignments/media-types/application/json")


def test_a_restricted_dataset_shows_its_restriction(anon_client: Any, federation_data: dict[str, Any]) -> None:
    structure = federation_data["structure"]
    g = graph_of(anon_client.get("/api/v1/catalog", **LD))
    venues = URIRef(dataset_uri(structure, "venue"))
    assert g.value(venues, DCTERMS.accessRights) == ACCESS.RESTRICTED
    [policy] = list(g.objects(venues, ODRL.hasPolicy))
    assert str(policy).startswith(f"{node_base()}/id/policy/")
    assert g.value(policy, ODRL.target) == venues
    assert g.value(policy, ODRL.assigner) == URIRef(structure.uri)
    permission = g.value(policy, ODRL.permission)
    constraints = list(g.objects(permission, ODRL.constraint))
    assert any(
        g.value(c, ODRL.leftOperand) == PROFILE.licensed
        and g.value(c, ODRL.operator) == ODRL.eq
        and g.value(c, ODRL.rightOperand).toPython() is True
        for c in constraints
    )
    # the journal duty and a French sentence a person reads
    assert any(g.value(d, ODRL.action) == PROFILE.journal for d in g.objects(permission, ODRL.duty))
    description = str(g.value(policy, DCTERMS.description))
    assert "licence" in description
    assert g.value(venues, VOID.entities).toPython() == 2


def test_record_overrides_are_listed_as_policies_of_their_dataset(
    anon_client: Any, federation_data: dict[str, Any]
) -> None:
    structure = federation_data["structure"]
    special = federation_data["productions"][0]
    override = save_policy(
        owner=structure, target_type="production", target_id=special.pk, templates=[{"name": "licensed_only"}]
    )
    g = graph_of(anon_client.get("/api/v1/catalog", **LD))
    productions = URIRef(dataset_uri(structure, "production"))
    policies = set(g.objects(productions, ODRL.hasPolicy))
    assert policies == {URIRef(default_policy_uid("production")), URIRef(override.uri)}
    assert g.value(URIRef(override.uri), ODRL.target) == URIRef(special.uri)
    # the dataset as a whole is still public (the override restricts one record)
    assert g.value(productions, DCTERMS.accessRights) == ACCESS.PUBLIC


def test_no_record_leaks_options_and_hidden_records_are_not_counted(
    anon_client: Any, federation_data: dict[str, Any]
) -> None:
    structure = federation_data["structure"]
    production = federation_data["productions"][1]
    confirmed = PerformanceFactory(owner=structure, production=production, status="scheduled")
    option = PerformanceFactory(owner=structure, production=production, status="option")
    hidden_venue = federation_data["venues"][0]
    controls.hide_record(structure, "venue", hidden_venue.pk, by=None)
    # an override on the hidden venue must not reveal it through its policy either
    hidden_override = save_policy(
        owner=structure, target_type="venue", target_id=hidden_venue.pk, templates=[{"name": "public"}]
    )
    # a structure whose only performance is an option has no performance dataset at all
    lonely = OrganisationFactory(name="Structure discrète")
    only_option = PerformanceFactory(owner=lonely, status="option")

    response = anon_client.get("/api/v1/catalog", **LD)
    g = graph_of(response)
    text = response.content.decode()
    performances = URIRef(dataset_uri(structure, "performance"))
    assert g.value(performances, VOID.entities).toPython() == 1
    from dataspace.referentials.models import Venue

    venues = Venue.objects.filter(owner=structure).count()  # the factories' halls add venues too
    assert g.value(URIRef(dataset_uri(structure, "venue")), VOID.entities).toPython() == venues - 1
    assert (URIRef(dataset_uri(lonely, "performance")), RDF.type, DCAT.Dataset) not in g
    assert hidden_override.uri not in text
    # records themselves are never in the catalog: no record URI, no title, only counts and policies
    for record in (confirmed, option, only_option, hidden_venue, production):
        assert record.uri not in text
        assert str(record.pk) not in text
    assert production.title not in text
    assert hidden_venue.name not in text


def test_json_on_request_same_document_and_public_even_with_a_foreign_token(
    client: Any, bearer_client: Any, federation_data: dict[str, Any]
) -> None:
    as_json = client.get("/api/v1/catalog", HTTP_ACCEPT="application/json")
    assert as_json.status_code == 200
    assert as_json["Content-Type"].startswith("application/json")
    document = json.loads(as_json.content)
    assert document["@type"] == "dcat:Catalog"
    assert isinstance(document["@context"], dict)  # inlined, nothing to fetch
    default = client.get("/api/v1/catalog")
    assert default["Content-Type"].startswith("application/ld+json")
    assert json.loads(default.content) == document
    # credentials are ignored: a token without referentials:read still reads the public catalog
    foreign = bearer_client("federation:sync", kind="reader")
    assert foreign.get("/api/v1/catalog").status_code == 200
    # the node's metadata points at it
    metadata = client.get("/.well-known/dataspace-node").json()
    assert metadata["catalog"] == f"{node_base()}/api/v1/catalog"


def test_the_cached_catalog_follows_changes_and_policies(anon_client: Any, federation_data: dict[str, Any]) -> None:
    structure = federation_data["structure"]
    productions = URIRef(dataset_uri(structure, "production"))
    first = graph_of(anon_client.get("/api/v1/catalog", **LD))
    assert first.value(productions, VOID.entities).toPython() == 3
    ProductionFactory(owner=structure, title="Nouvelle création")
    second = graph_of(anon_client.get("/api/v1/catalog", **LD))
    assert second.value(productions, VOID.entities).toPython() == 4
    policy = save_policy(owner=structure, target_type="production", templates=[{"name": "licensed_only"}])
    from policies.services import bump_policy_generation

    bump_policy_generation()  # what the commit of save_policy does (tests never commit)
    third = graph_of(anon_client.get("/api/v1/catalog", **LD))
    assert set(third.objects(productions, ODRL.hasPolicy)) == {URIRef(policy.uri)}
    assert third.value(productions, DCTERMS.accessRights) == ACCESS.RESTRICTED


def test_catalog_query_count_does_not_grow_with_records(
    anon_client: Any, federation_data: dict[str, Any], django_assert_max_num_queries: Any
) -> None:
    structure = federation_data["structure"]
    for n in range(10):
        ProductionFactory(owner=structure, title=f"Série {n}")
    with django_assert_max_num_queries(25):
        assert anon_client.get("/api/v1/catalog").status_code == 200
    with django_assert_max_num_queries(2):  # cached: the last change number and the node identity
        assert anon_client.get("/api/v1/catalog").status_code == 200


def test_build_catalog_time_bound_policy_becomes_restricted(federation_data: dict[str, Any]) -> None:
    structure = federation_data["structure"]
    save_policy(
        owner=structure,
        target_type="production",
        templates=[{"name": "public"}, {"name": "expires_on", "date": "2030-12-31"}],
    )
    before = catalog.build_catalog(now=dt.datetime(2030, 6, 1, tzinfo=dt.UTC))
    after = catalog.build_catalog(now=dt.datetime(2031, 6, 1, tzinfo=dt.UTC))

    def rights(document: dict[str, Any]) -> str:
        uri = dataset_uri(structure, "production")
        [node] = [d for d in document["dcat:dataset"] if d["@id"] == uri]
        return str(node["dct:accessRights"])

    assert rights(before) == catalog.PUBLIC
    assert rights(after) == catalog.RESTRICTED
