"""The node's own metadata, as recorded by `node_init`."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class NodeIdentity(models.Model):
    """Singleton: who this node is. The private key is in a file, never here."""

    name = models.CharField(_("nom"), max_length=100)
    base_url = models.URLField(_("URL de base"))
    roles = models.JSONField(_("rôles"), default=list)
    organisation = models.ForeignKey(
        "referentials.Organisation",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("structure exploitant ce nœud"),
    )
    description = models.TextField(_("description"), blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("identité du nœud")
        verbose_name_plural = _("identité du nœud")

    def __str__(self) -> str:
        return self.name


class StaffMembership(models.Model):
    """A person's role on the staff of a structure whose data this node holds."""

    class Role(models.TextChoices):
        ADMINISTRATOR = "administrator", _("administrateur·rice (gère accès, clients et mandats)")
        EDITOR = "editor", _("éditeur·rice (saisit et modifie les données)")
        READER = "reader", _("lecteur·rice (consulte)")

    user = models.ForeignKey(
        "auth.User", on_delete=models.CASCADE, related_name="staff_memberships", verbose_name=_("personne")
    )
    organisation = models.ForeignKey(
        "referentials.Organisation",
        on_delete=models.CASCADE,
        related_name="staff_memberships",
        verbose_name=_("structure"),
    )
    role = models.CharField(_("rôle"), max_length=20, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("membre de l'équipe")
        verbose_name_plural = _("membres de l'équipe")
        constraints = [
            models.UniqueConstraint(fields=["user", "organisation"], name="one_role_per_structure"),
        ]

    def __str__(self) -> str:
        return f"{self.user} — {self.organisation} ({self.get_role_display()})"
