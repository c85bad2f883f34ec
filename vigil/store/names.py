"""Validation of names that become paths or keys (experiments, artifacts, datasets).

A name is one or more segments joined by ``/``. Each segment holds word
characters (any script), digits and ``- . _ @ + = ,`` or space, may not be
``.`` or ``..`` and may not start or end with a space. No backslash, colon,
percent sign, control character or leading/trailing slash is allowed, so a
name can never address anything outside the root it is placed under.
"""

from __future__ import annotations

import hashlib
import re

from vigil.errors import invalid

MAX_NAME_CHARS = 256
MAX_KEY_CHARS = 1024      # keys vigil composes from names (prefix + name + version)
# used with fullmatch: "$" alone would also match before a trailing newline ("model\n")
_SEGMENT = re.compile(r"[\w\-.@+=, ]+")
_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


def check_name(name: object, who: str, arg: str = "name", max_chars: int = MAX_NAME_CHARS) -> str:
    """Return ``name`` if it is a safe, nestable name; raise InvalidInput otherwise.

    Examples
    --------
    >>> check_name('monitors/housing/california', 'experiment')
    'monitors/housing/california'
    >>> check_name('../etc/passwd', 'experiment')
    Traceback (most recent call last):
    ...
    vigil.errors.InvalidInput: experiment: name must be a name of segments [word characters - . _ @ + = , space] joined by '/', without '.' or '..' segments, at most 256 characters; got '../etc/passwd' (str)
    """
    expected = (
        "a name of segments [word characters - . _ @ + = , space] joined by '/', "
        f"without '.' or '..' segments, at most {max_chars} characters"
    )
    if not isinstance(name, str) or not name or len(name) > max_chars:
        raise invalid(who, arg, name, expected)
    for segment in name.split("/"):
        if (
            segment in ("", ".", "..")
            or not _SEGMENT.fullmatch(segment)
            or segment != segment.strip()
        ):
            raise invalid(who, arg, name, expected)
    return name


def key_path(name: str) -> str:
    """The object-key path of a validated name: the name itself, or ``__long__/<hash>``
    when a segment is longer than a file name may be (255 bytes on most file systems).

    Examples
    --------
    >>> key_path('housing/california')
    'housing/california'
    >>> key_path('x' * 256)[:9]
    '__long__/'
    """
    if any(len(seg.encode("utf-8")) > 200 for seg in name.split("/")):
        return "__long__/" + hashlib.sha256(name.encode("utf-8")).hexdigest()[:32]
    return name


def check_field(name: object, who: str, arg: str = "field") -> str:
    """Return ``name`` if it is an identifier usable as a column and JSON key.

    Examples
    --------
    >>> check_field('model', 'log_extra')
    'model'
    """
    if not isinstance(name, str) or not _FIELD.fullmatch(name):
        raise invalid(who, arg, name, "an identifier [A-Za-z_][A-Za-z0-9_]* of at most 64 characters")
    return name
