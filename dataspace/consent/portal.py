"""The person's portal (/moi/): sign in by a one-time link, see and withdraw consents, download
their receipts, read who looked at one's directory entry (issue 5, item 8; docs/consent.md).

Sign-in: the person types their email at /moi/connexion. When it names a person account of this
node — the subject of a consent (`ConsentRecord.subject_email_index`, a blind index), the owner of a
directory entry (its contact email's blind index) or a user whose `email` it is — the node emails a
link /moi/lien/<token>. The token is 32 random bytes (URL-safe base64); only its HMAC-SHA256 digest
is stored (`LoginLink.digest`), it is valid `PORTAL_LINK_MINUTES` and used once. The answer is the
same page whether or not the address is known. Requests are throttled per email and per client
address (`PORTAL_LINK_REQUESTS_PER_EMAIL` / `_PER_ADDRESS` per `PORTAL_LINK_THROTTLE_WINDOW`).

Opening the link shows a « Me connecter » button; the POST consumes the link and opens a Django
session. (A GET never consumes it: mail scanners that prefetch links would otherwise burn it.)
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import logging
import secrets
import uuid
from collections.abc import Callable
from typing import Any

from django import forms
from django.apps import apps
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model, login, logout
from django.core.cache import cache
from django.core.exceptions import FieldDoesNotExist
from django.core.mail import send_mail
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import Resolver404, resolve, reverse
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST
from rest_framework.exceptions import ValidationError

from dataspace.audit import labels
from dataspace.audit.models import JournalEntry
from dataspace.consent.models import ACTIVE_STATUSES, ConsentRecord, LoginLink
from dataspace.node.crypto import blind_index

logger = logging.getLogger(__name__)

#: Journal entries per page of /moi/acces.
ACCESS_PAGE_SIZE = 50
#: The authentication backend a link sign-in is recorded under (the node's only one).
LOGIN_BACKEND = "dataspace.node.throttling.ThrottledModelBackend"
#: How long a session opened by a link lasts (seconds since its last change).
PORTAL_SESSION_SECONDS = 3600
#: Where P4's export of everything held about the person lives (linked when it is routed).
EXPORT_PATH = "/api/v1/me/data"
_THROTTLE_PREFIX = "portal-link:v1"

#: French labels of what a consent covers.
TARGET_LABELS: dict[str, Promise] = {
    "directory-entry": _("votre fiche dans l'annuaire professionnel"),
    "contact": _("vos coordonnées dans les contacts de la structure"),
}

#: French labels of the actions the journal records about a consent (stream "admin").
CONSENT_ACTION_LABELS: dict[str, Promise] = {
    "consent.given": _("consentement donné"),
    "consent.renewed": _("consentement renouvelé"),
    "consent.withdrawn": _("consentement retiré"),
    "consent.expired": _("consentement expiré"),
    "consent.erased": _("consentement effacé"),
}


# ---------------------------------------------------------------------------- whose data


def _directory_entry_model() -> Any:
    """DirectoryEntry (dataspace.directory), or None on a node without it."""
    try:
        return apps.get_model("directory", "DirectoryEntry")
    except LookupError:
        return None


def _has_field(model: Any, name: str) -> bool:
    return any(field.name == name for field in model._meta.get_fields())


def person_entry_ids(user: Any) -> list[uuid.UUID]:
    """The ids of the directory entries of this person (their `person_user`)."""
    model = _directory_entry_model()
    if model is None or not _has_field(model, "person_user"):
        return []
    return list(model.objects.filter(person_user=user).values_list("pk", flat=True))


def person_consents(user: Any) -> QuerySet[ConsentRecord]:
    """The consents of this person: theirs as subject, or covering one of their directory entries."""
    condition = Q(subject_user=user)
    entries = person_entry_ids(user)
    if entries:
        condition |= Q(target_type="directory-entry", target_id__in=entries)
    return (
        ConsentRecord.objects.filter(condition)
        .select_related("controller", "notice")
        .prefetch_related("events")
        .order_by("-given_at")
    )


def person_subject_ids(user: Any) -> set[uuid.UUID]:
    """Every id the journal may name as this person (`subject_person_id`): their directory entries and
    the records their consents cover (a contact of a structure, for instance)."""
    ids = set(person_entry_ids(user))
    ids.update(ConsentRecord.objects.filter(subject_user=user).values_list("target_id", flat=True))
    return ids


def link_sign_in_allowed(user: Any) -> bool:
    """Whether a one-time link may sign this account in: an active person account without powers.

    A link proves control of a mailbox only. Accounts that act for a structure (staff, superuser, a
    StaffMembership) or search the directory (a licensed professional's ProfessionalAccount) sign in
    with their password (admin or OAuth login) and can then open /moi/ like anyone else."""
    from dataspace.directory.models import ProfessionalAccount
    from dataspace.node.models import StaffMembership

    if user is None or not user.is_active or user.is_staff or user.is_superuser:
        return False
    if StaffMembership.objects.filter(user=user).exists():
        return False
    return not ProfessionalAccount.objects.filter(user=user).exists()


def _find_account(email: str) -> Any:
    index = blind_index(email)
    consent = (
        ConsentRecord.objects.filter(subject_email_index=index, subject_user__isnull=False)
        .select_related("subject_user")
        .order_by("-given_at")
        .first()
    )
    if consent is not None:
        return consent.subject_user
    model = _directory_entry_model()
    if model is not None and _has_field(model, "person_user"):
        for name in ("contact_email_index", "email_index"):
            if _has_field(model, name):
                entry = (
                    model.objects.filter(**{name: index}, person_user__isnull=False)
                    .select_related("person_user")
                    .first()
                )
                if entry is not None:
                    return entry.person_user
                break
    return get_user_model().objects.filter(email__iexact=email).order_by("pk").first()


def account_for_email(email: str) -> Any:
    """The person account of this node that `email` names and a link may sign in, or None.

    Looked up by blind index on consents (`subject_email_index`) and directory entries (the contact
    email's index, when the model has one), then by `User.email` (case-insensitive); see
    `link_sign_in_allowed` for the accounts a link never signs in."""
    email = email.strip()
    if not email:
        return None
    user = _find_account(email)
    return user if link_sign_in_allowed(user) else None


# ---------------------------------------------------------------------------- sign-in links


def link_digest(token: str) -> str:
    """HMAC-SHA256 (hex) of a link token under a key derived from SECRET_KEY: what the database keeps."""
    key = hashlib.sha256(b"scene-commune portal link\x00" + settings.SECRET_KEY.encode()).digest()
    return hmac.new(key, token.encode("ascii", "replace"), hashlib.sha256).hexdigest()


def create_login_link(user: Any, *, now: dt.datetime | None = None) -> tuple[str, LoginLink]:
    """A new one-time link for `user`: the token (to send, never stored) and its row (digest only)."""
    now = now or timezone.now()
    token = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode("ascii")
    link = LoginLink.objects.create(
        user=user,
        digest=link_digest(token),
        expires_at=now + dt.timedelta(minutes=int(settings.PORTAL_LINK_MINUTES)),
    )
    return token, link


def usable_link(token: str, *, now: dt.datetime | None = None) -> LoginLink | None:
    """The unused, unexpired link of this token, or None."""
    now = now or timezone.now()
    if not token or len(token) > 100:
        return None
    return (
        LoginLink.objects.filter(digest=link_digest(token), used_at__isnull=True, expires_at__gt=now)
        .select_related("user")
        .first()
    )


def consume_link(token: str, *, now: dt.datetime | None = None) -> Any:
    """Mark the link used and return its user, or None when it is unknown, used, expired or the
    account may no longer sign in by link. Concurrent uses: only one UPDATE matches `used_at IS NULL`."""
    now = now or timezone.now()
    link = usable_link(token, now=now)
    if link is None or not link_sign_in_allowed(link.user):
        return None
    with transaction.atomic():
        claimed = LoginLink.objects.filter(pk=link.pk, used_at__isnull=True).update(used_at=now)
    return link.user if claimed == 1 else None


def _throttled(kind: str, value: str, limit: int) -> bool:
    """Count one request for (kind, value); True when it is over `limit` in the current window."""
    digest = hashlib.sha256(value.encode("utf-8")).hexdigest()[:32]
    key = f"{_THROTTLE_PREFIX}:{kind}:{digest}"
    window = int(settings.PORTAL_LINK_THROTTLE_WINDOW)
    if cache.add(key, 1, timeout=window):
        return limit < 1
    try:
        count = cache.incr(key)
    except ValueError:  # expired in between
        cache.set(key, 1, timeout=window)
        count = 1
    return count > limit


def link_request_throttled(request: HttpRequest, email: str) -> bool:
    """True when this email or this client address asked for too many links lately."""
    over_email = _throttled("email", email.strip().casefold(), int(settings.PORTAL_LINK_REQUESTS_PER_EMAIL))
    address = str(request.META.get("REMOTE_ADDR") or "")
    over_address = bool(address) and _throttled("ip", address, int(settings.PORTAL_LINK_REQUESTS_PER_ADDRESS))
    return over_email or over_address


def send_login_link(user: Any, email: str) -> None:
    """Email a fresh sign-in link to `email` (the address the person typed, which names `user`)."""
    token, _link = create_login_link(user)
    url = settings.NODE_BASE_URL + reverse("consent:portal-link", args=[token])
    minutes = int(settings.PORTAL_LINK_MINUTES)
    subject = gettext("Votre lien de connexion à l'espace personnel — Scène Commune")
    body = gettext(
        "Bonjour,\n\n"
        "Vous avez demandé à vous connecter à votre espace personnel sur le nœud %(node)s.\n"
        "Ouvrez ce lien pour vous connecter (valable %(minutes)d minutes, une seule fois) :\n\n"
        "%(url)s\n\n"
        "Si vous n'êtes pas à l'origine de cette demande, ignorez ce message : personne ne peut se "
        "connecter sans ce lien.\n"
    ) % {"node": settings.NODE_BASE_URL, "minutes": minutes, "url": url}
    send_mail(subject, body, None, [email])


# ---------------------------------------------------------------------------- views


class EmailForm(forms.Form):
    email = forms.EmailField(label=_("Votre adresse électronique"), max_length=254)


def _portal_login_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect(reverse("consent:portal-login"))
        return view(request, *args, **kwargs)

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    return wrapped


def _export_url() -> str:
    """P4's export of the person's data, when this node routes it."""
    for path in (EXPORT_PATH, EXPORT_PATH + "/"):
        try:
            resolve(path)
        except Resolver404:
            continue
        return path
    return ""


def _nav_context(active: str) -> dict[str, Any]:
    return {
        "portal_active": active,
        "export_url": _export_url(),
        "link_minutes": int(settings.PORTAL_LINK_MINUTES),
    }


@never_cache
@require_http_methods(["GET", "POST"])
def login_request(request: HttpRequest) -> HttpResponse:
    """/moi/connexion: ask for a sign-in link. The same answer whether the address is known or not."""
    form = EmailForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        email = form.cleaned_data["email"]
        if link_request_throttled(request, email):
            context = {"form": EmailForm(), "throttled": True, **_nav_context("login")}
            return render(request, "consent/portal/login.html", context, status=429)
        user = account_for_email(email)
        if user is not None:
            try:
                send_login_link(user, email)
            except Exception:  # the answer must not differ for a known address
                logger.exception("portal: the sign-in link could not be sent")
        return render(request, "consent/portal/link_sent.html", {"email": email, **_nav_context("login")})
    status = 400 if request.method == "POST" else 200
    return render(request, "consent/portal/login.html", {"form": form, **_nav_context("login")}, status=status)


@never_cache
@require_http_methods(["GET", "POST"])
def login_link(request: HttpRequest, token: str) -> HttpResponse:
    """/moi/lien/<token>: GET shows a « Me connecter » button, POST consumes the link and signs in."""
    if request.method == "POST":
        user = consume_link(token)
        if user is not None:
            login(request, user, backend=LOGIN_BACKEND)
            request.session.set_expiry(PORTAL_SESSION_SECONDS)
            return redirect("consent:portal-home")
    elif usable_link(token) is not None:
        response = render(request, "consent/portal/link_confirm.html", _nav_context("login"))
        response["Referrer-Policy"] = "same-origin"  # never leaks the token; "no-referrer" nulls Origin (CSRF)
        return response
    response = render(request, "consent/portal/link_invalid.html", _nav_context("login"), status=410)
    response["Referrer-Policy"] = "same-origin"  # never leaks the token; "no-referrer" nulls Origin (CSRF)
    return response


@require_POST
def portal_logout(request: HttpRequest) -> HttpResponse:
    """/moi/deconnexion (POST): end the session."""
    logout(request)
    messages.success(request, gettext("Vous êtes déconnecté·e."))
    return redirect("consent:portal-login")


def _purpose_label(code: str) -> str:
    """French label of a consent purpose (dataspace.consent.vocabulary) or a policy purpose (journal)."""
    from dataspace.consent import vocabulary

    if code in vocabulary.PURPOSES:
        return vocabulary.purpose_label(code)
    return labels.label(labels.PURPOSE_LABELS, code)


def _field_labels(consent: ConsentRecord) -> list[str]:
    """The covered fields, named by the verbose names of the record they belong to when known."""
    model = _directory_entry_model() if consent.target_type == "directory-entry" else None
    names: list[str] = []
    for name in consent.fields or []:
        label = str(name)
        if model is not None:
            try:
                label = str(model._meta.get_field(name).verbose_name)
            except FieldDoesNotExist:  # a field not (or no longer) on the model: its code
                label = str(name)
        names.append(label)
    return names


def _describe(consent: ConsentRecord, now: dt.datetime) -> ConsentRecord:
    from dataspace.consent import vocabulary

    in_force = consent.status in ACTIVE_STATUSES and (consent.expires_at is None or consent.expires_at > now)
    consent.in_force = in_force  # type: ignore[attr-defined]
    consent.purpose_labels = [_purpose_label(str(code)) for code in consent.purposes or []]  # type: ignore[attr-defined]
    consent.field_labels = _field_labels(consent)  # type: ignore[attr-defined]
    consent.target_label = str(TARGET_LABELS.get(consent.target_type, consent.target_type))  # type: ignore[attr-defined]
    consent.history = list(consent.events.all())  # type: ignore[attr-defined]
    consent.federated = consent.target_type in vocabulary.FEDERATED_TARGET_TYPES  # type: ignore[attr-defined]
    return consent


@never_cache
@_portal_login_required
def portal_home(request: HttpRequest) -> HttpResponse:
    """/moi/: the person's consents, each withdrawable and with its receipt."""
    now = timezone.now()
    consents = [_describe(consent, now) for consent in person_consents(request.user)]
    context = {"consents": consents, **_nav_context("home")}
    return render(request, "consent/portal/home.html", context)


def _own_consent(request: HttpRequest, consent_id: uuid.UUID) -> ConsentRecord:
    """The consent if it is this person's; 404 otherwise (never telling that it exists)."""
    return get_object_or_404(person_consents(request.user), pk=consent_id)


@never_cache
@_portal_login_required
@require_http_methods(["GET", "POST"])
def withdraw(request: HttpRequest, consent_id: uuid.UUID) -> HttpResponse:
    """/moi/consentements/<id>/retirer: a confirmation page (GET), the withdrawal (POST)."""
    from dataspace.consent import services  # P1's module: imported late so that the portal loads without it

    consent = _describe(_own_consent(request, consent_id), timezone.now())
    if not consent.in_force:  # type: ignore[attr-defined]
        messages.info(request, gettext("Ce consentement n'est plus en vigueur : il n'y a rien à retirer."))
        return redirect("consent:portal-home")
    if request.method == "POST":
        try:
            services.withdraw_consent(consent, by=request.user, note="portal")
        except ValidationError:  # ended meanwhile (another tab, expiry)
            messages.info(request, gettext("Ce consentement n'est plus en vigueur : il n'y a rien à retirer."))
            return redirect("consent:portal-home")
        messages.success(
            request,
            gettext("Votre consentement est retiré. Vos données ne sont plus communiquées à ce titre."),
        )
        return redirect("consent:portal-home")
    return render(request, "consent/portal/withdraw_confirm.html", {"consent": consent, **_nav_context("home")})


@never_cache
@_portal_login_required
def receipt(request: HttpRequest, consent_id: uuid.UUID) -> HttpResponse:
    """/moi/consentements/<id>/recu: the receipt signed by the node (compact JWS), as a download."""
    from dataspace.consent import services

    consent = _own_consent(request, consent_id)
    jws = services.receipt_for(consent)
    response = HttpResponse(jws, content_type="application/jose; charset=us-ascii")
    response["Content-Disposition"] = f'attachment; filename="recu-consentement-{consent.pk}.jwt"'
    return response


@never_cache
@_portal_login_required
def access_history(request: HttpRequest) -> HttpResponse:
    """/moi/acces: who read (or tried to read) the person's data, newest first, paginated."""
    ids = person_subject_ids(request.user)
    # Changes of the person's own consents are shown on /moi/ (each consent's history), not here.
    entries = (
        JournalEntry.objects.filter(subject_person_id__in=ids).exclude(action__startswith="consent.").order_by("-seq")
    )
    page = Paginator(entries, ACCESS_PAGE_SIZE).get_page(request.GET.get("page"))
    record_types = labels.record_type_labels()
    for entry in page.object_list:
        action_label = CONSENT_ACTION_LABELS.get(entry.action) or labels.label(labels.ACTION_LABELS, entry.action)
        entry.action_label = str(action_label)  # type: ignore[attr-defined]
        entry.purpose_label = _purpose_label(entry.purpose) if entry.purpose else ""  # type: ignore[attr-defined]
        entry.record_type_label = labels.label(record_types, entry.record_type)  # type: ignore[attr-defined]
        # Only a read through another node is worth naming that node.
        entry.remote_node = entry.node if entry.node.rstrip("/") != settings.NODE_BASE_URL else ""  # type: ignore[attr-defined]
    context = {"page": page, "entries": page.object_list, **_nav_context("access")}
    return render(request, "consent/portal/access.html", context)
