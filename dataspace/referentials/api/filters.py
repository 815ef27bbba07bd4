"""django-filter FilterSets of the referential collections.

Related records are filtered by UUID (`?hall=<uuid>`): a malformed UUID, date or number is a 400
naming the parameter; a well-formed UUID that matches nothing gives an empty page. Text filters
on places (`city`, `region`) ignore case.
"""

from __future__ import annotations

import datetime as dt

import django_filters as filters
from django.db.models import QuerySet

from dataspace.referentials.models import (
    Contribution,
    Discipline,
    Hall,
    Organisation,
    Performance,
    Person,
    Production,
    Season,
    TechnicalSheet,
    Venue,
    Work,
)


class OrganisationFilter(filters.FilterSet):
    kind = filters.MultipleChoiceFilter(choices=Organisation.Kind.choices)
    city = filters.CharFilter(lookup_expr="iexact")
    region = filters.CharFilter(lookup_expr="iexact")
    label = filters.CharFilter(lookup_expr="iexact")
    owner = filters.UUIDFilter(field_name="owner")

    class Meta:
        model = Organisation
        fields = ["kind", "city", "region", "departement", "postal_code", "siret", "siren", "label", "owner"]


class VenueFilter(filters.FilterSet):
    city = filters.CharFilter(lookup_expr="iexact")
    region = filters.CharFilter(lookup_expr="iexact")
    venue_type = filters.MultipleChoiceFilter(choices=Venue.VenueType.choices)
    operator = filters.UUIDFilter(field_name="operator")
    owner = filters.UUIDFilter(field_name="owner")

    class Meta:
        model = Venue
        fields = ["city", "region", "departement", "postal_code", "venue_type", "operator", "siret", "owner"]


class HallFilter(filters.FilterSet):
    venue = filters.UUIDFilter(field_name="venue")
    city = filters.CharFilter(field_name="venue__city", lookup_expr="iexact")
    min_seated_capacity = filters.NumberFilter(field_name="seated_capacity", lookup_expr="gte")
    min_wheelchair_places = filters.NumberFilter(field_name="wheelchair_places", lookup_expr="gte")
    owner = filters.UUIDFilter(field_name="owner")

    class Meta:
        model = Hall
        fields = ["venue", "city", "min_seated_capacity", "min_wheelchair_places", "owner"]


class TechnicalSheetFilter(filters.FilterSet):
    """Find a hall a show fits in: every `min_*` is a lower bound (metres, kVA, count)."""

    hall = filters.UUIDFilter(field_name="hall")
    venue = filters.UUIDFilter(field_name="hall__venue")
    city = filters.CharFilter(field_name="hall__venue__city", lookup_expr="iexact")
    min_stage_width = filters.NumberFilter(field_name="stage_width_m", lookup_expr="gte")
    min_stage_depth = filters.NumberFilter(field_name="stage_depth_m", lookup_expr="gte")
    min_proscenium_opening = filters.NumberFilter(field_name="proscenium_opening_m", lookup_expr="gte")
    min_proscenium_height = filters.NumberFilter(field_name="proscenium_height_m", lookup_expr="gte")
    min_height_under_grid = filters.NumberFilter(field_name="height_under_grid_m", lookup_expr="gte")
    min_flying_bars = filters.NumberFilter(field_name="flying_bars", lookup_expr="gte")
    min_flying_bar_load = filters.NumberFilter(field_name="flying_bar_max_load_kg", lookup_expr="gte")
    min_stage_power = filters.NumberFilter(field_name="stage_power_kva", lookup_expr="gte")
    min_dressing_rooms = filters.NumberFilter(field_name="dressing_rooms", lookup_expr="gte")
    owner = filters.UUIDFilter(field_name="owner")

    class Meta:
        model = TechnicalSheet
        fields = ["hall", "venue", "city", "owner"]


class PersonFilter(filters.FilterSet):
    family_name = filters.CharFilter(lookup_expr="iexact")
    owner = filters.UUIDFilter(field_name="owner")

    class Meta:
        model = Person
        fields = ["family_name", "owner"]


class WorkFilter(filters.FilterSet):
    genre = filters.MultipleChoiceFilter(choices=Work.Genre.choices)
    year_min = filters.NumberFilter(field_name="year", lookup_expr="gte")
    year_max = filters.NumberFilter(field_name="year", lookup_expr="lte")
    owner = filters.UUIDFilter(field_name="owner")

    class Meta:
        model = Work
        fields = ["genre", "language", "year", "year_min", "year_max", "owner"]


class ProductionFilter(filters.FilterSet):
    discipline = filters.MultipleChoiceFilter(choices=Discipline.choices)
    audience = filters.ChoiceFilter(choices=Production.Audience.choices)
    producer = filters.UUIDFilter(field_name="producer")
    coproducer = filters.UUIDFilter(field_name="coproducers", distinct=True)
    work = filters.UUIDFilter(field_name="works", distinct=True)
    original_production = filters.UUIDFilter(field_name="original_production")
    is_revival = filters.BooleanFilter(field_name="original_production", lookup_expr="isnull", exclude=True)
    premiere_after = filters.DateFilter(field_name="premiere_date", lookup_expr="gte")
    premiere_before = filters.DateFilter(field_name="premiere_date", lookup_expr="lte")
    owner = filters.UUIDFilter(field_name="owner")

    class Meta:
        model = Production
        fields = [
            "discipline",
            "audience",
            "producer",
            "coproducer",
            "work",
            "original_production",
            "is_revival",
            "language",
            "premiere_after",
            "premiere_before",
            "owner",
        ]


class ContributionFilter(filters.FilterSet):
    production = filters.UUIDFilter(field_name="production")
    work = filters.UUIDFilter(field_name="work")
    person = filters.UUIDFilter(field_name="person")
    role = filters.MultipleChoiceFilter(choices=Contribution.Role.choices)
    owner = filters.UUIDFilter(field_name="owner")

    class Meta:
        model = Contribution
        fields = ["production", "work", "person", "role", "owner"]


class SeasonFilter(filters.FilterSet):
    kind = filters.ChoiceFilter(choices=Season.Kind.choices)
    organiser = filters.UUIDFilter(field_name="organiser")
    active_on = filters.DateFilter(method="filter_active_on", label="Date within the season (YYYY-MM-DD)")
    owner = filters.UUIDFilter(field_name="owner")

    class Meta:
        model = Season
        fields = ["kind", "organiser", "edition", "active_on", "owner"]

    def filter_active_on(self, queryset: QuerySet[Season], name: str, value: dt.date) -> QuerySet[Season]:
        return queryset.filter(start_date__lte=value, end_date__gte=value)


class PerformanceFilter(filters.FilterSet):
    production = filters.UUIDFilter(field_name="production")
    hall = filters.UUIDFilter(field_name="hall")
    venue = filters.UUIDFilter(field_name="hall__venue")
    season = filters.UUIDFilter(field_name="season")
    status = filters.MultipleChoiceFilter(choices=Performance.Status.choices)
    start_after = filters.IsoDateTimeFilter(field_name="start", lookup_expr="gte")
    start_before = filters.IsoDateTimeFilter(field_name="start", lookup_expr="lt")
    discipline = filters.MultipleChoiceFilter(field_name="production__discipline", choices=Discipline.choices)
    audience = filters.ChoiceFilter(field_name="production__audience", choices=Production.Audience.choices)
    city = filters.CharFilter(field_name="hall__venue__city", lookup_expr="iexact")
    region = filters.CharFilter(field_name="hall__venue__region", lookup_expr="iexact")
    departement = filters.CharFilter(field_name="hall__venue__departement")
    accessibility = filters.ChoiceFilter(
        choices=Performance.Accessibility.choices,
        method="filter_accessibility",
        label="Performances offering this accessibility feature",
    )
    owner = filters.UUIDFilter(field_name="owner")

    class Meta:
        model = Performance
        fields = {
            "start": ["gte", "lte"],
        }

    def filter_accessibility(self, queryset: QuerySet[Performance], name: str, value: str) -> QuerySet[Performance]:
        # JSON containment is not portable to SQLite; a quoted token match is exact for our values.
        return queryset.filter(accessibility__icontains=f'"{value}"')
