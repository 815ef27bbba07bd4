"""Admin screens of usage policies and DMP controls (French).

`PolicyAdmin` lets an administrator without an IT department pick templates with checkboxes and
a few inputs (categories, partners, purposes, an end date), or paste an ODRL document. The change
page shows the policy as one French sentence and its ODRL. Saving goes through
`policies.services` (a new policy replaces the target's active one, kept as history), and errors
appear on the field they concern.
"""

from __future__ import annotations

import json
import re
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from dataspace.api.permissions import staff_roles
from dataspace.records.admin import ReadOnlyAdmin
from dataspace.referentials.models import Organisation
from policies import controls, services
from policies.language import PURPOSES, PolicyError
from policies.models import Block, BreakGlassAccess, HiddenRecord, Policy
from policies.odrl import to_odrl
from policies.sentences import sentence
from policies.templates import TEMPLATE_LABELS, TEMPLATE_NAMES, ministry_nodes

#: Which form field shows the error of each template parameter.
PARAMETER_FIELDS = {
    "categories": "categories",
    "organisations": "partners",
    "nodes": "ministry_nodes",
    "purposes": "purposes",
    "date": "expires_on",
}
PURPOSE_CHOICES = [
    ("programming", _("Programmation")),
    ("touring", _("Diffusion, tournées")),
    ("contracting", _("Contractualisation")),
    ("reporting", _("Déclarations et bilans")),
    ("research", _("Recherche et études")),
    ("communication", _("Communication")),
]
CATEGORY_CHOICES = [
    ("1", _("1 — exploitant de lieu")),
    ("2", _("2 — producteur, entrepreneur de tournées")),
    ("3", _("3 — diffuseur")),
]
ADMINISTRATOR = "administrator"
_TEMPLATE_INDEX = re.compile(r"^templates\[(\d+)\](?:\.(\w+))?$")


def _is_superuser(request: HttpRequest) -> bool:
    return bool(getattr(request.user, "is_superuser", False))


def writable_organisations(request: HttpRequest) -> QuerySet[Organisation]:
    """Organisations whose policies and controls this staff member manages in the admin.

    Their administrators (`StaffMembership` role administrator) only; all of them for a superuser.
    """
    if _is_superuser(request):
        return Organisation.objects.all()
    if not getattr(request.user, "is_active", False):
        return Organisation.objects.none()
    roles = staff_roles(request.user)
    return Organisation.objects.filter(pk__in=[org for org, role in roles.items() if role == ADMINISTRATOR])


def visible_organisations(request: HttpRequest) -> QuerySet[Organisation]:
    """Organisations whose policies and controls this staff member may see: any membership role."""
    if _is_superuser(request):
        return Organisation.objects.all()
    if not getattr(request.user, "is_active", False):
        return Organisation.objects.none()
    return Organisation.objects.filter(pk__in=list(staff_roles(request.user)))


class MembershipAdmin(admin.ModelAdmin):
    """Permissions decided by the staff member's membership of the record's structure (`owner`).

    As for OAuth mandates (dataspace/oauth/admin.py), Django's model permissions play no part:
    * a superuser may do everything;
    * a structure's **administrator** may view, add, change and delete the policies and controls
      of that structure (never another structure's);
    * its **editors and readers** may only view them: deciding who uses a structure's data is the
      administrator's call in the admin (editors keep the API, which follows its own rules);
    * anyone else sees nothing (the module is not even listed).
    """

    def _roles(self, request: HttpRequest) -> dict[Any, str]:
        if not getattr(request.user, "is_active", False):
            return {}
        return staff_roles(request.user)

    def _administers(self, request: HttpRequest, obj: Any = None) -> bool:
        if _is_superuser(request):
            return True
        roles = self._roles(request)
        if obj is None:
            return ADMINISTRATOR in roles.values()
        return roles.get(obj.owner_id) == ADMINISTRATOR

    def _sees(self, request: HttpRequest, obj: Any = None) -> bool:
        if _is_superuser(request):
            return True
        roles = self._roles(request)
        return bool(roles) if obj is None else obj.owner_id in roles

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._sees(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._sees(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self._administers(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._administers(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._administers(request, obj)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).filter(owner__in=visible_organisations(request))

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "owner":
            kwargs["queryset"] = writable_organisations(request)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class IndentedJSONField(forms.JSONField):
    """JSON shown indented in its text area (the ODRL document stays readable)."""

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, forms.fields.InvalidJSONInput):
            return value
        return json.dumps(value, ensure_ascii=False, indent=2, cls=self.encoder)


def template_checkbox(name: str) -> forms.BooleanField:
    label, help_text = TEMPLATE_LABELS[name]
    return forms.BooleanField(label=label, help_text=help_text, required=False)


class PolicyAdminForm(forms.ModelForm):
    """Templates (checkboxes and parameters) or a pasted ODRL document."""

    mode = forms.ChoiceField(
        label=_("Rédaction"),
        choices=[("templates", _("Choisir des modèles")), ("odrl", _("Coller un document ODRL"))],
        initial="templates",
        widget=forms.RadioSelect,
    )
    use_public = template_checkbox("public")
    use_licensed_only = template_checkbox("licensed_only")
    use_named_partners = template_checkbox("named_partners")
    use_ministry_aggregates_only = template_checkbox("ministry_aggregates_only")
    use_no_redistribution = template_checkbox("no_redistribution")
    use_purpose_limited = template_checkbox("purpose_limited")
    use_expires_on = template_checkbox("expires_on")
    categories = forms.MultipleChoiceField(
        label=_("Catégories de licence"),
        choices=CATEGORY_CHOICES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Aucune case cochée : toutes les catégories."),
    )
    partners = forms.ModelMultipleChoiceField(
        label=_("Structures partenaires"),
        queryset=Organisation.objects.all(),
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 8}),
    )
    ministry_nodes = forms.CharField(
        label=_("Nœud du ministère"),
        required=False,
        help_text=_("Adresse du nœud du ministère (une par ligne) ; vide : celle que ce nœud connaît."),
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    purposes = forms.MultipleChoiceField(
        label=_("Finalités autorisées"), choices=PURPOSE_CHOICES, required=False, widget=forms.CheckboxSelectMultiple
    )
    expires_on = forms.DateField(
        label=_("Date de fin (incluse)"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    class Meta:
        model = Policy
        fields = ("owner", "target_type", "target_id", "title", "odrl")
        field_classes = {"odrl": IndentedJSONField}
        widgets = {"odrl": forms.Textarea(attrs={"rows": 18, "cols": 100, "style": "font-family: monospace"})}
        labels = {"odrl": _("Document ODRL (JSON-LD)")}
        help_texts = {
            "odrl": _("Pour coller une politique ODRL 2.2 de notre profil. Avec des modèles, ce champ est calculé.")
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "odrl" in self.fields:  # absent from a view-only page
            self.fields["odrl"].required = False
        instance = self.instance
        if instance is not None and instance.pk and not self.is_bound:
            self._initial_from(instance)
        self.chosen_templates: list[dict[str, Any]] | None = None

    def _initial_from(self, policy: Policy) -> None:
        chosen = {t.get("name"): t for t in (policy.templates or [])}
        self.initial["mode"] = "templates" if policy.templates or not policy.odrl.get("permission") else "odrl"
        for name in TEMPLATE_NAMES:
            self.initial[f"use_{name}"] = name in chosen
        self.initial["categories"] = [str(c) for c in chosen.get("licensed_only", {}).get("categories", [])]
        self.initial["partners"] = chosen.get("named_partners", {}).get("organisations", [])
        self.initial["ministry_nodes"] = "\n".join(chosen.get("ministry_aggregates_only", {}).get("nodes", []))
        self.initial["purposes"] = chosen.get("purpose_limited", {}).get("purposes", [])
        self.initial["expires_on"] = chosen.get("expires_on", {}).get("date")

    def templates_from_form(self) -> list[dict[str, Any]]:
        data = self.cleaned_data
        templates: list[dict[str, Any]] = []
        for name in TEMPLATE_NAMES:
            if not data.get(f"use_{name}"):
                continue
            item: dict[str, Any] = {"name": name}
            if name == "licensed_only" and data.get("categories"):
                item["categories"] = [int(c) for c in data["categories"]]
            elif name == "named_partners":
                item["organisations"] = [str(o.pk) for o in data.get("partners") or []]
            elif name == "ministry_aggregates_only":
                nodes = [line.strip() for line in (data.get("ministry_nodes") or "").split() if line.strip()]
                if nodes:
                    item["nodes"] = nodes
            elif name == "purpose_limited":
                item["purposes"] = [p for p in PURPOSES if p in (data.get("purposes") or [])]
            elif name == "expires_on":
                item["date"] = data["expires_on"].isoformat() if data.get("expires_on") else None
            templates.append(item)
        return templates

    def _field_of(self, error: PolicyError, templates: list[dict[str, Any]]) -> tuple[str | None, str]:
        """The form field that shows `error`, and the message to show there."""
        if error.field.startswith("odrl"):
            path = error.field.removeprefix("odrl").removeprefix(".")
            return "odrl", f"{path} : {error.message}" if path else error.message
        match = _TEMPLATE_INDEX.match(error.field)
        if match:
            index, member = int(match[1]), match[2]
            if member in PARAMETER_FIELDS:
                return PARAMETER_FIELDS[member], error.message
            if index < len(templates):
                return f"use_{templates[index]['name']}", error.message
        if error.field in ("target_id", "target_type", "owner"):
            return error.field, error.message
        return None, error.message

    def _post_clean(self) -> None:
        if self.errors:
            return  # already refused, on the right field: the model would only repeat it on the ODRL
        super()._post_clean()  # type: ignore[misc]  # ModelForm._post_clean is missing from django-stubs

    def clean(self) -> dict[str, Any]:
        data = super().clean() or self.cleaned_data
        if self.errors:
            return data
        owner, target_type, target_id = data.get("owner"), data.get("target_type"), data.get("target_id")
        templates = self.templates_from_form() if data.get("mode") == "templates" else []
        try:
            if owner is not None and target_type and target_id:
                services.target_record(owner, target_type, target_id)
            if data.get("mode") == "templates":
                doc = services.build_doc(templates=templates)
                self.chosen_templates = [dict(t) for t in doc.templates]
            else:
                if not data.get("odrl"):
                    self.add_error("odrl", _("Collez un document ODRL, ou choisissez des modèles."))
                    return data
                doc = services.build_doc(odrl=data["odrl"])
                self.chosen_templates = None
        except PolicyError as error:
            field, message = self._field_of(error, templates)
            self.add_error(field, message)
            return data
        # The model validates the ODRL it will hold (Policy.clean); the services store the final one.
        data["odrl"] = to_odrl(doc, target="", assigner="")
        return data


@admin.register(Policy)
class PolicyAdmin(MembershipAdmin):
    """Usage policies of the structures this staff member works for (see `MembershipAdmin`)."""

    form = PolicyAdminForm
    list_display = ("__str__", "owner", "target_type", "target_id", "active", "version", "valid_from")
    list_filter = ("active", "target_type")
    search_fields = ("title", "owner__name")
    readonly_fields = ("policy_sentence", "uri_display", "active", "version", "valid_from")
    actions = ("deactivate",)

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        templates = []
        for name in TEMPLATE_NAMES:
            templates.append(f"use_{name}")
            templates.extend(
                {
                    "licensed_only": ["categories"],
                    "named_partners": ["partners"],
                    "ministry_aggregates_only": ["ministry_nodes"],
                    "purpose_limited": ["purposes"],
                    "expires_on": ["expires_on"],
                }.get(name, [])
            )
        read = (
            _("La politique en une phrase"),
            {"fields": ("policy_sentence", "uri_display", "active", "version", "valid_from")},
        )
        if obj is not None and not self.has_change_permission(request, obj):
            # View only (history, or an editor / reader): what the policy says, not the drafting form.
            return [
                (_("Données concernées"), {"fields": ("owner", "target_type", "target_id", "title")}),
                read,
                (_("ODRL"), {"fields": ("odrl",)}),
            ]
        return [
            (_("Données concernées"), {"fields": ("owner", "target_type", "target_id", "title")}),
            *([read] if obj is not None else []),
            (_("Rédaction"), {"fields": ("mode",)}),
            (
                _("Modèles"),
                {
                    "fields": templates,
                    "description": _(
                        "Cochez un ou plusieurs modèles qui ouvrent l'accès (public, professionnels licenciés, "
                        "partenaires, ministère) ; les finalités et la date de fin s'appliquent à chacun."
                    ),
                },
            ),
            (_("ODRL"), {"fields": ("odrl",)}),
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fixed = list(self.readonly_fields)
        if obj is not None:
            fixed += ["owner", "target_type", "target_id"]
        return fixed

    def get_queryset(self, request: HttpRequest) -> QuerySet[Policy]:
        return super().get_queryset(request).select_related("owner")

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        initial = super().get_changeform_initial_data(request)
        organisations = list(writable_organisations(request)[:2])
        if len(organisations) == 1:
            initial.setdefault("owner", str(organisations[0].pk))
        if ministry_nodes():
            initial.setdefault("ministry_nodes", "\n".join(ministry_nodes()))
        return initial

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and not obj.active:
            return False  # history: read only
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # A structure's administrator deactivates a policy (the action), kept as history; deleting
        # the row is left to the node's operator.
        return _is_superuser(request)

    @admin.display(description=_("En une phrase"))
    def policy_sentence(self, obj: Policy) -> str:
        if not obj.pk:
            return "—"
        try:
            return sentence(services.policy_doc(obj), owner_name=obj.owner.name)
        except PolicyError as error:
            return f"{error.field}: {error.message}"

    @admin.display(description=_("URI"))
    def uri_display(self, obj: Policy) -> Any:
        return format_html("<code>{}</code>", obj.uri) if obj.pk else "—"

    def save_model(self, request: HttpRequest, obj: Policy, form: Any, change: bool) -> None:
        data = form.cleaned_data
        # With templates, the services compose them again; with ODRL, they parse the checked copy.
        rules: dict[str, Any] = (
            {"templates": form.chosen_templates} if form.chosen_templates is not None else {"odrl": data["odrl"]}
        )
        if change:
            services.update_policy(obj, title=data.get("title", ""), by=request.user, **rules)
            return
        saved = services.save_policy(
            owner=data["owner"],
            target_type=data["target_type"],
            target_id=data.get("target_id"),
            title=data.get("title", ""),
            by=request.user,
            **rules,
        )
        for field in Policy._meta.concrete_fields:
            setattr(obj, field.attname, getattr(saved, field.attname))
        obj._state.adding = False
        obj._state.db = saved._state.db

    @admin.action(description=_("Désactiver les politiques choisies (gardées en historique)"), permissions=["change"])
    def deactivate(self, request: HttpRequest, queryset: QuerySet[Policy]) -> None:
        count = 0
        for policy in queryset.filter(active=True, owner__in=writable_organisations(request)):
            services.deactivate_policy(policy, by=request.user)
            count += 1
        self.message_user(request, _("%(n)d politique(s) désactivée(s).") % {"n": count}, messages.SUCCESS)


# ---------------------------------------------------------------------------- DMP controls
# Blocks and hidden records of the structures this staff member administers (as for policies;
# editors and readers see them); break-glass accesses to the data of the structures they work for,
# read-only. Every change goes through `policies.controls` (the same rules as the API).


def _show_errors(form: forms.BaseForm, error: ValidationError, fields: dict[str, str]) -> None:
    """Put a service's errors on the form fields they concern (`fields`: service name → form field)."""
    for name, texts in error.message_dict.items():
        field = fields.get(name, name)
        form.add_error(field if field in form.fields else None, texts)


class BlockAdminForm(forms.ModelForm):
    """The structure, and the person (by login) or the organisation it blocks."""

    username = forms.CharField(
        label=_("Personne bloquée (identifiant de connexion)"),
        required=False,
        help_text=_("Celui qui figure dans votre journal des accès ; ou choisissez une organisation."),
    )

    class Meta:
        model = Block
        fields = ("owner", "username", "blocked_organisation", "note")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or self.cleaned_data
        if self.errors or data.get("owner") is None:
            return data
        user = None
        if data.get("username"):
            user = get_user_model()._default_manager.filter(username=data["username"]).first()
            if user is None:
                self.add_error("username", _("Aucun compte de ce nom sur ce nœud."))
                return data
        self.instance.blocked_user = user  # not a form field: the model's checks see it
        try:
            controls.check_block(data["owner"], user=user, organisation=data.get("blocked_organisation"))
        except ValidationError as error:
            _show_errors(self, error, {"user": "username", "organisation": "blocked_organisation"})
        return data


@admin.register(Block)
class BlockAdmin(MembershipAdmin):
    """A blocked party is refused everything of the structure, without being told why."""

    form = BlockAdminForm
    list_display = ("owner", "blocked_party", "created_at", "created_by")
    list_filter = (("owner", admin.RelatedOnlyFieldListFilter),)
    search_fields = ("blocked_user__username", "blocked_organisation__name", "owner__name")
    ordering = ("-created_at",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Block]:
        queryset = (
            super().get_queryset(request).select_related("owner", "blocked_user", "blocked_organisation", "created_by")
        )
        return queryset

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ("owner", "username", "blocked_organisation", "note")
        return ("owner", "blocked_user", "blocked_organisation", "note", "created_at", "created_by")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return () if obj is None else self.get_fields(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # lift the block and set another one

    @admin.display(description=_("partie bloquée"))
    def blocked_party(self, obj: Block) -> str:
        if obj.blocked_user is not None:
            return str(_("personne : %(name)s") % {"name": obj.blocked_user.get_username()})
        return str(_("organisation : %(name)s") % {"name": obj.blocked_organisation})

    def save_model(self, request: HttpRequest, obj: Block, form: Any, change: bool) -> None:
        data = form.cleaned_data
        block = controls.block_party(
            data["owner"],
            user=obj.blocked_user,
            organisation=data.get("blocked_organisation"),
            note=data.get("note", ""),
            by=request.user,
        )
        for field in Block._meta.concrete_fields:
            setattr(obj, field.attname, getattr(block, field.attname))
        obj._state.adding = False
        obj._state.db = block._state.db

    def delete_model(self, request: HttpRequest, obj: Block) -> None:
        controls.unblock(obj, by=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Block]) -> None:
        for block in queryset:
            controls.unblock(block, by=request.user)


class HiddenRecordAdminForm(forms.ModelForm):
    """The record (type and identifier) of the structure, and the partners that still see it."""

    class Meta:
        model = HiddenRecord
        fields = ("owner", "target_type", "target_id", "partners")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or self.cleaned_data
        if self.errors or self.instance.pk is not None:
            return data  # on change only the partners change
        try:
            controls.check_hide(data["owner"], data["target_type"], data["target_id"], data.get("partners") or [])
        except ValidationError as error:
            _show_errors(self, error, {"record": "target_id"})
        return data


@admin.register(HiddenRecord)
class HiddenRecordAdmin(MembershipAdmin):
    """A hidden record is seen only by its structure and the partners it names."""

    form = HiddenRecordAdminForm
    list_display = ("target_type", "target_id", "owner", "partner_list", "created_at", "created_by")
    list_filter = ("target_type", ("owner", admin.RelatedOnlyFieldListFilter))
    search_fields = ("=target_id", "owner__name", "partners__name")
    filter_horizontal = ("partners",)
    ordering = ("-created_at",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[HiddenRecord]:
        queryset = super().get_queryset(request).select_related("owner", "created_by").prefetch_related("partners")
        return queryset

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return () if obj is None else ("owner", "target_type", "target_id", "created_at", "created_by")

    @admin.display(description=_("partenaires autorisés"))
    def partner_list(self, obj: HiddenRecord) -> str:
        return ", ".join(partner.name for partner in obj.partners.all()) or "—"

    def save_model(self, request: HttpRequest, obj: HiddenRecord, form: Any, change: bool) -> None:
        if change:
            return  # the partners are saved with the related fields
        data = form.cleaned_data
        hidden = controls.hide_record(
            data["owner"], data["target_type"], data["target_id"], data.get("partners") or [], by=request.user
        )
        for field in HiddenRecord._meta.concrete_fields:
            setattr(obj, field.attname, getattr(hidden, field.attname))
        obj._state.adding = False
        obj._state.db = hidden._state.db

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        controls.set_hidden_partners(form.instance, form.cleaned_data.get("partners") or [], by=request.user)
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def delete_model(self, request: HttpRequest, obj: HiddenRecord) -> None:
        controls.unhide(obj, by=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[HiddenRecord]) -> None:
        for hidden in queryset:
            controls.unhide(hidden, by=request.user)


@admin.register(BreakGlassAccess)
class BreakGlassAccessAdmin(MembershipAdmin, ReadOnlyAdmin):
    """Emergency accesses to the structure's data (read-only history), newest first."""

    list_display = (
        "created_at",
        "user",
        "organisation",
        "licence_number",
        "owner",
        "target_type",
        "target_id",
        "emergency",
        "expires_at",
        "owner_alerted_at",
    )
    list_filter = ("emergency", "target_type", ("owner", admin.RelatedOnlyFieldListFilter))
    search_fields = ("user__username", "licence_number", "organisation__name", "=target_id", "justification")
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    fields = (
        "created_at",
        "expires_at",
        "user",
        "organisation",
        "licence_number",
        "owner",
        "target_type",
        "target_id",
        "emergency",
        "justification",
        "purpose",
        "owner_alerted_at",
    )
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[BreakGlassAccess]:
        return super().get_queryset(request).select_related("user", "organisation", "owner")

    # History: nobody adds, changes or deletes an emergency access here (`MembershipAdmin` decides
    # who sees it: the structure's staff, any role).
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
