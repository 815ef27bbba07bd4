"""Human pages of this app: the person's portal under /moi/ (names `consent:portal-*`)."""

from django.urls import URLPattern, URLResolver, path

from dataspace.consent import portal

app_name = "consent"

urlpatterns: list[URLPattern | URLResolver] = [
    path("moi/", portal.portal_home, name="portal-home"),
    path("moi/connexion", portal.login_request, name="portal-login"),
    path("moi/lien/<str:token>", portal.login_link, name="portal-link"),
    path("moi/deconnexion", portal.portal_logout, name="portal-logout"),
    path("moi/acces", portal.access_history, name="portal-access"),
    path("moi/consentements/<uuid:consent_id>/retirer", portal.withdraw, name="portal-withdraw"),
    path("moi/consentements/<uuid:consent_id>/recu", portal.receipt, name="portal-receipt"),
]
