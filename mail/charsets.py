"""Bytes to text for mail: declared charsets, the labels clients get wrong, and fallbacks.

Text must always come out as valid Unicode without losing a byte: an
undeclared or mislabelled body is decoded as UTF-8 when it is UTF-8 and as
windows-1252 (the WHATWG superset of latin-1) otherwise, and every guess is
recorded as a defect for the admin.
"""

from __future__ import annotations

import codecs
import re
from functools import lru_cache

_CP1252 = "windows-1252"
_FALLBACK_ERRORS = "commons-bridge-cp1252"

# The WHATWG Encoding Standard's windows-1252 maps the five bytes Microsoft
# left undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D) to the C1 controls of the same
# value; Python's cp1252 refuses them. Doing the same never loses a byte.
_CP1252_TABLE = "".join(bytes([b]).decode("cp1252", errors="ignore") or chr(b) for b in range(256))


def decode_cp1252(data: bytes) -> str:
    """Decode as windows-1252 the way browsers do: every byte becomes a character."""
    return codecs.charmap_decode(data, "strict", _CP1252_TABLE)[0]


def _cp1252_error_handler(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    return decode_cp1252(exc.object[exc.start : exc.end]), exc.end


codecs.register_error(_FALLBACK_ERRORS, _cp1252_error_handler)

# Labels mail clients use that mean a superset in practice, as the WHATWG
# Encoding Standard maps them: an "iso-8859-1" message from Windows carries
# curly quotes and euro signs in 0x80-0x9F, which only windows-1252 defines.
_CHARSET_ALIASES = {
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "iso_8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "l1": "cp1252",
    "cp819": "cp1252",
    "ibm819": "cp1252",
    "iso-8859-9": "cp1254",
    "iso-8859-11": "cp874",
    "tis-620": "cp874",
    "gb2312": "gbk",
    "x-gbk": "gbk",
    "ks_c_5601-1987": "cp949",
    "euc-kr": "cp949",
    "shift_jis": "cp932",
    "x-sjis": "cp932",
    "big5": "big5hkscs",
}
# Codecs that accept bytes but are not charsets a message can legitimately
# declare; "charset=unicode_escape" must not run Python's escape decoder.
_NOT_CHARSETS = frozenset({"idna", "punycode", "raw_unicode_escape", "unicode_escape", "undefined"})
# Charsets whose text can be pure 7-bit but still needs the codec to decode.
_SEVEN_BIT_SPECIAL = ("utf_7", "iso2022", "hz", "utf_16", "utf_32")
ASCII_LABELS = frozenset({"us-ascii", "ascii", "us", "ansi_x3.4-1968", "iso646-us", "7bit"})


@lru_cache(maxsize=256)
def resolve_charset(label: str | None) -> str | None:
    """The Python codec for a MIME charset label, or None when unknown or merely ASCII."""
    if not label:
        return None
    name = label.strip().strip("\"'").lower()
    if not name or name in ASCII_LABELS:
        return None
    name = _CHARSET_ALIASES.get(name, name)
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):
        return None
    # "base64", "hex", "zlib", "uu"... are bytes-to-bytes codecs: bytes.decode refuses
    # them with LookupError (found by fuzzing: an encoded-word labelled "base64").
    if not getattr(info, "_is_text_encoding", True):
        return None
    codec = info.name.replace("-", "_")
    return None if codec in _NOT_CHARSETS or codec.startswith("rot") else codec


def decode_text(data: bytes, label: str | None, defects: list[str]) -> str:
    """Decode body text with its declared charset, repairing what real mail gets wrong."""
    codec = resolve_charset(label)
    if codec is not None and codec.startswith(_SEVEN_BIT_SPECIAL):
        try:
            return data.decode(codec)
        except (UnicodeDecodeError, LookupError):
            defects.append(f"text not valid {label}: read as utf-8")
            return data.decode("utf-8", _FALLBACK_ERRORS)
    if data.isascii():
        return data.decode("ascii")
    if codec is None:
        return _decode_undeclared(data, label, defects)
    if codec == "cp1252":
        return _decode_windows(data, label, defects)
    try:
        return data.decode(codec)
    except UnicodeDecodeError:
        pass
    if codec == "utf_8":
        fixed, how = utf8_or_windows(data)
        defects.append(f"text not valid {label}: read as {how}")
        return fixed
    # Mislabelled mail is usually UTF-8; otherwise keep the declared charset
    # for what it can read and the stray bytes as windows-1252, losing nothing.
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        defects.append(f"text not valid {label}: invalid bytes read as windows-1252")
        return data.decode(codec, _FALLBACK_ERRORS)
    defects.append(f"charset {label!r} mislabelled: text is utf-8")
    return text


def _decode_undeclared(data: bytes, label: str | None, defects: list[str]) -> str:
    fixed, how = utf8_or_windows(data)
    if label and label.strip().lower() not in ASCII_LABELS:
        defects.append(f"charset {label!r} replaced by {how}")
    else:
        defects.append(f"undeclared 8-bit text read as {how}")
    return fixed


def _decode_windows(data: bytes, label: str | None, defects: list[str]) -> str:
    # A latin-1 label on text that is valid UTF-8 with multi-byte sequences is a
    # mislabel (git send-email and some MUAs do this); genuine latin-1 prose
    # practically never forms valid UTF-8 sequences ("Ã©" pairs).
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        if label and label.strip().lower() not in ("windows-1252", "cp1252"):
            defects.append(f"charset {label!r} read as windows-1252")
        return decode_cp1252(data)
    defects.append(f"charset {label!r} mislabelled: text is utf-8")
    return text


def utf8_or_windows(data: bytes) -> tuple[str, str]:
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    if _looks_mostly_utf8(data):
        return data.decode("utf-8", _FALLBACK_ERRORS), "utf-8 with windows-1252 for invalid bytes"
    return decode_cp1252(data), _CP1252


_UTF8_SEQUENCE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)
_HIGH_BYTE = re.compile(rb"[\x80-\xff]")


def _looks_mostly_utf8(data: bytes) -> bool:
    """True when most 8-bit bytes form UTF-8 sequences (mixed-encoding text)."""
    sequences = _UTF8_SEQUENCE.findall(data)
    covered = sum(len(s) for s in sequences)
    return covered * 2 > len(_HIGH_BYTE.findall(data))
