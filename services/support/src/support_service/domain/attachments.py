"""Files attached to a ticket's messages: what may be attached and what it is.

The content type is never the sender's word: it is sniffed from the content (the ``filetype``
library reads the magic numbers of images and PDFs; UTF-8 text without control characters but
line breaks and tabs is ``text/plain``). Only :data:`ALLOWED_TYPES` are kept; a file name is
kept as text (its base name, one line), never as a path.
"""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass
from typing import Final

import filetype

from support_service.domain.tickets import field_error

ALLOWED_TYPES: Final = frozenset(
    {"image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf", "text/plain"}
)
MAX_FILE_NAME: Final = 255


@dataclass(frozen=True)
class AttachmentLimits:
    max_bytes: int
    max_count: int


@dataclass(frozen=True)
class Upload:
    """One file checked and ready to store."""

    file_name: str
    content_type: str
    content: bytes
    sha256: str

    @property
    def size(self) -> int:
        return len(self.content)


def sniff(content: bytes) -> str | None:
    """The content's type, or None when it is none this module recognizes."""
    kind = filetype.guess(content)
    if kind is not None:
        return str(kind.mime)
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if any(unicodedata.category(ch) == "Cc" and ch not in "\n\r\t" for ch in text):
        return None
    return "text/plain"


def check_file_name(name: str, position: int) -> str:
    base = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    if not base or base in (".", "..") or len(base) > MAX_FILE_NAME:
        raise field_error(f"attachments[{position}].file_name", f"a file name must be 1 to {MAX_FILE_NAME} characters")
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in base):
        raise field_error(f"attachments[{position}].file_name", "a file name must be one line of printable text")
    return base


def check_uploads(files: list[tuple[str, bytes]], limits: AttachmentLimits) -> list[Upload]:
    """Each (file name, content) checked: within the limits, of an allowed sniffed type."""
    if len(files) > limits.max_count:
        raise field_error("attachments", f"a message takes at most {limits.max_count} attachments")
    uploads = []
    for position, (name, content) in enumerate(files):
        file_name = check_file_name(name, position)
        if not content:
            raise field_error(f"attachments[{position}].content", f"{file_name} is empty")
        if len(content) > limits.max_bytes:
            raise field_error(
                f"attachments[{position}].content",
                f"{file_name} is {len(content)} bytes; an attachment may have at most {limits.max_bytes}",
            )
        kind = sniff(content)
        if kind not in ALLOWED_TYPES:
            allowed = ", ".join(sorted(ALLOWED_TYPES))
            raise field_error(
                f"attachments[{position}].content",
                f"{file_name} is {kind or 'of an unknown type'}; attach only {allowed}",
            )
        uploads.append(Upload(file_name, kind, content, hashlib.sha256(content).hexdigest()))
    return uploads
