"""Reading the text files people upload (ministry lists, ticketing exports): one decoding rule."""

from __future__ import annotations

#: Tried in order: UTF-8 (with or without BOM), then the Windows and ISO Latin-1 code pages that
#: spreadsheets export in France. Latin-1 decodes any byte, so the last one always succeeds.
ENCODINGS = ("utf-8-sig", "cp1252", "latin-1")


class NotText(ValueError):
    """The bytes hold control characters: a binary file (ZIP, Excel…), not a CSV."""


def decode_text(data: bytes) -> str:
    """The file's text in the first encoding that reads it; `NotText` for binary content."""
    text = ""
    for encoding in ENCODINGS:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        break
    if any(ord(ch) < 32 and ch not in "\t\r\n" for ch in text[:65536]):
        raise NotText("binary content")
    return text
