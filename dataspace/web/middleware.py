"""Language of what a person sees: French first, English when the person chooses it."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from django.middleware.locale import LocaleMiddleware
from django.utils import translation


class FrenchFirstLocaleMiddleware(LocaleMiddleware):
    """Pages are in French unless the person picked another language with the language switcher
    (its cookie). A browser's `Accept-Language` is not followed for pages: a French sector's node
    speaks French first, whatever the machine's locale. API clients (`/api/`) may still ask for
    English error messages with `Accept-Language`."""

    def process_request(self, request: HttpRequest) -> None:
        if request.path.startswith("/api/"):
            super().process_request(request)
            return
        chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME, "")
        language = chosen if chosen in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE
        translation.activate(language)
        request.LANGUAGE_CODE = translation.get_language()
