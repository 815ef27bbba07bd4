"""Policies as the API shows them, and the body of a policy write.

A write names its target and gives the rules either as templates or as an ODRL document:
``{"target_type", "target_id"?, "owner"?, "title"?, "templates": [...]}`` or ``{…, "odrl": {...}}``.
The rules themselves are checked by `policies.services` (errors name ``templates[i]…`` or
``odrl.<path>``).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import inline_serializer
from rest_framework import serializers

from dataspace.referentials.models import Organisation
from policies.models import GOVERNED_TYPES, Policy
from policies.sentences import sentence
from policies.services import policy_doc


class PolicySerializer(serializers.ModelSerializer):
    """One policy: its target, its templates, its French sentence and its canonical ODRL."""

    uri = serializers.CharField(read_only=True)
    owner: serializers.PrimaryKeyRelatedField[Organisation] = serializers.PrimaryKeyRelatedField(read_only=True)
    owner_name = serializers.CharField(source="owner.name", read_only=True)
    sentence = serializers.SerializerMethodField()

    class Meta:
        model = Policy
        fields = (
            "id",
            "uri",
            "owner",
            "owner_name",
            "target_type",
            "target_id",
            "title",
            "templates",
            "sentence",
            "odrl",
            "active",
            "version",
            "valid_from",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields

    def get_sentence(self, policy: Policy) -> str:
        """The policy in one sentence, in the active language (French by default)."""
        return sentence(policy_doc(policy), owner_name=policy.owner.name)


class PolicyWriteSerializer(serializers.Serializer):
    """The members of a policy write (their shapes; the rules are checked by the services)."""

    owner = serializers.PrimaryKeyRelatedField(
        queryset=Organisation.objects.all(),
        required=False,
        help_text="The organisation whose policy it is; by default the target record's owner, else this node's "
        "organisation (or a depositor client's).",
    )
    target_type = serializers.ChoiceField(choices=GOVERNED_TYPES)
    target_id = serializers.UUIDField(
        required=False, allow_null=True, help_text="One record (an override); absent: the whole dataset."
    )
    title = serializers.CharField(required=False, allow_blank=True, max_length=200)
    templates = serializers.JSONField(
        required=False, help_text='Templates, e.g. [{"name": "licensed_only", "categories": [2, 3]}].'
    )
    odrl = serializers.JSONField(required=False, help_text="An ODRL 2.2 JSON-LD policy in our profile.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not self.partial and ("templates" in attrs) == ("odrl" in attrs):
            raise serializers.ValidationError(
                {"templates": ["Give either templates or an ODRL document (odrl), not both and not neither."]}
            )
        if self.partial and "templates" in attrs and "odrl" in attrs:
            raise serializers.ValidationError({"templates": ["Give either templates or odrl, not both."]})
        return attrs


class PolicyUpdateSerializer(PolicyWriteSerializer):
    """PUT / PATCH: the target of a policy never changes (save a new policy for another target)."""

    target_type = serializers.ChoiceField(choices=GOVERNED_TYPES, required=False)


#: The templates as `policies.templates.list_templates` describes them (for the OpenAPI schema).
TemplateSerializer = inline_serializer(
    name="PolicyTemplate",
    many=True,
    fields={
        "name": serializers.CharField(),
        "label": serializers.CharField(),
        "help": serializers.CharField(),
        "kind": serializers.ChoiceField(choices=["grant", "restrict", "prohibit"]),
        "grants": serializers.ListField(child=serializers.CharField()),
        "parameters": serializers.ListField(child=serializers.DictField()),
    },
)
