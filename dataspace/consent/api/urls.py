"""/api/v1/ routes of this app (docs/consent.md). Others append their routes below."""

from django.urls import URLPattern, URLResolver, path

from dataspace.consent.api import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("consents", views.ConsentListView.as_view(), name="consent-list"),
    path("consents/mine", views.MyConsentsView.as_view(), name="consent-mine"),
    path("consents/verify", views.VerifyReceiptView.as_view(), name="consent-verify"),
    path("consents/<uuid:pk>", views.ConsentDetailView.as_view(), name="consent-detail"),
    path("consents/<uuid:pk>/withdraw", views.ConsentWithdrawView.as_view(), name="consent-withdraw"),
    path("consents/<uuid:pk>/renew", views.ConsentRenewView.as_view(), name="consent-renew"),
    path("consents/<uuid:pk>/receipt", views.ConsentReceiptView.as_view(), name="consent-receipt"),
]

# Data-sharing agreements (dataspace.consent.api.agreements).
from dataspace.consent.api import agreements  # noqa: E402 - appended after the app's own routes

urlpatterns += [
    path("agreements/", agreements.AgreementListView.as_view(), name="agreements"),
    path("agreements/<uuid:pk>/", agreements.AgreementDetailView.as_view(), name="agreement-detail"),
    path("agreements/<uuid:pk>/revoke", agreements.AgreementRevokeView.as_view(), name="agreement-revoke"),
]

# Rights of the person (dataspace.consent.api.rights).
from dataspace.consent.api import rights as rights_views  # noqa: E402 - appended after the app's own routes

urlpatterns += [
    path("me/data", rights_views.MyDataView.as_view(), name="rights-me-data"),
    path("me/rectify", rights_views.MyRectifyView.as_view(), name="rights-me-rectify"),
    path("me/erase", rights_views.MyEraseView.as_view(), name="rights-me-erase"),
    path("rights/export", rights_views.StaffExportView.as_view(), name="rights-export"),
    path("rights/rectify", rights_views.StaffRectifyView.as_view(), name="rights-rectify"),
    path("rights/erase", rights_views.StaffEraseView.as_view(), name="rights-erase"),
    path("processing-record", rights_views.ProcessingRecordView.as_view(), name="processing-record"),
]
