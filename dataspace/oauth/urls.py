from django.urls import path

from dataspace.oauth import views

app_name = "oauth"

urlpatterns = [
    path(".well-known/oauth-authorization-server", views.metadata, name="metadata"),
    path("oauth/token", views.token, name="token"),
    path("oauth/authorize", views.authorize, name="authorize"),
    path("oauth/introspect", views.introspect, name="introspect"),
    path("oauth/revoke", views.revoke, name="revoke"),
    path("oauth/login/", views.OAuthLoginView.as_view(), name="login"),
]
