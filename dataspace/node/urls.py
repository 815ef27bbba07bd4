from django.urls import path

from dataspace.node import views

app_name = "node"

urlpatterns = [
    path(".well-known/dataspace-node", views.dataspace_node, name="dataspace-node"),
    path(".well-known/jwks.json", views.jwks, name="jwks"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
]
