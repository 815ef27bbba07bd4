"""/api/v1/ routes of the federation (DESIGN.md §4, docs/federation.md)."""

from django.urls import URLPattern, URLResolver, path

from federation.api import catalog, membership, notices, search, webhooks

urlpatterns: list[URLPattern | URLResolver] = [
    path("catalog", catalog.CatalogView.as_view(), name="catalog"),
    path("federation/members", membership.MembersView.as_view(), name="federation-members"),
    path("federation/notices", notices.NoticesView.as_view(), name="federation-notices"),
    path("federation/search", search.NodeSearchView.as_view(), name="federation-node-search"),
    path("directory/search", search.DirectorySearchView.as_view(), name="directory-search"),
    path("referentials/search", search.ReferentialsSearchView.as_view(), name="referentials-search"),
    *webhooks.urlpatterns,
]
