"""Shared wording of the membership commands: every error in French, then in English."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError

from federation import membership

#: English for the codes of `membership.MembershipError` (the French detail comes from the error).
ENGLISH = {
    "invalid": "the request is invalid",
    "wrong_registry": "that node announces another base URL",
    "not_a_registry": "that node is not a registry",
    "other_registry": "this node already trusts another registry (use --repin to change)",
    "not_joined": "this node has joined no registry: run federation_join first",
    "no_key": "no such key in this node's key directory (run node_init)",
    "unknown_key": "the registry knows this node with other keys",
    "invalid_signature": "the registry refused the request's signature",
    "wrong_signer": "the request was signed by another node's key",
}


def error(french: str, english: str) -> CommandError:
    return CommandError(f"{french}\n{english}")


def from_membership(exc: membership.MembershipError) -> CommandError:
    english = ENGLISH.get(exc.code, exc.code)
    fields = f" {exc.fields}" if exc.fields else ""
    return error(f"{exc.detail}{fields}", f"Refused: {english} ({exc.code}).")


def unreachable(exc: Exception) -> CommandError:
    return error(
        f"Registre injoignable ou réponse inutilisable : {exc}", f"Registry unreachable or unusable answer: {exc}"
    )


def refused_answer(answer: membership.JoinAnswer) -> CommandError:
    """A join or announcement the registry did not accept."""
    code = str(answer.body.get("error") or answer.status)
    fields: Any = answer.body.get("fields") or {}
    if answer.http_status == 409:
        return error(
            f"Le registre connaît déjà ce nœud avec d'autres clés ({code}) : {answer.detail} Annoncez les nouvelles "
            "clés avec une clé qu'il connaît (federation_announce_keys --key KID).",
            "The registry already knows this node with other keys: announce the new keys signed with a key it has "
            "(federation_announce_keys --key KID), or ask the registry operator to refuse the old membership, then "
            "join again and have the new request approved.",
        )
    shown = f"{answer.detail} {fields or ''}".strip()
    return error(
        f"Le registre a refusé la demande (HTTP {answer.http_status}, {code}) : {shown}",
        f"The registry refused the request (HTTP {answer.http_status}, {code}): "
        f"{ENGLISH.get(code, 'see the French detail above')}.",
    )
