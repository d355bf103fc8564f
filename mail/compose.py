"""The composer: every message the bridge sends is built here, and only here.

Pure: it takes plain values (a post, the community as a list, one
recipient's addresses and links) and returns an `EmailMessage`; the sender
(bridge/outbound/sender.py) looks the values up, queues the bytes and delivers them.

What a recipient's mail client needs, and why:
- From is the community's address with the author's name ("Ana Lima via
  Engineering"), never the author's own address: we cannot sign for her
  domain, and DMARC-enforcing receivers would reject or junk the mail.
- Reply-To carries a signed reply token (mail/tokens.py), so an answer comes
  back to us bound to this person and this thread.
- In-Reply-To and References are the thread's real Message-IDs, so Gmail,
  Apple Mail and Thunderbird put it in the original conversation; Outlook
  groups by Thread-Index/Thread-Topic instead ([MS-OXOMSG] 2.2.1.3), whose
  22-byte header we keep equal for the whole thread.
- List-Id (RFC 2919), List-Post/List-Archive/List-Unsubscribe (RFC 2369)
  and List-Unsubscribe-Post (RFC 8058) make clients offer "unsubscribe" and
  let large receivers accept us; Precedence: list keeps well-behaved
  vacation responders quiet. Notices and digests say Auto-Submitted (RFC 3834).
- X-Commons-Bridge-Loop marks our mail, so a copy that comes back is
  recognised (mail/classify.py) and never posted or answered.
- multipart/alternative: a plain part that reads well in any client, and an
  HTML part, both from the Jinja2 templates in templates/mail/.
- The words the bridge adds (footers, the digest's subject, "(no subject)") are
  in the recipient's language: callers pass a `Language` (a gettext translator
  and its tag, from the bridge's catalogues); English when they do not know it.

Every header value made from stored data goes through `_one_line` and
`_mailbox`: the archive keeps what senders wrote, and a subject or name
holding a line break (RFC 5322 2.2 forbids one inside a field) or an address
the email package cannot parse must cost a copy neither its headers nor its
delivery.
"""

from __future__ import annotations

import base64
import gettext
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from functools import cache, lru_cache
from pathlib import Path
from typing import Any, Protocol

from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context, select_autoescape
from jinja2.runtime import Context

from mail.headers import clean_text
from mail.wire import new_message

TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "mail"
# References grow with every reply; clients cope with a few dozen ids. RFC 5322
# 3.6.4 lets us keep the first (the thread's root) and the most recent ones.
MAX_REFERENCES = 20
# An id is written whole on one line (mail/wire.py): room for "References: <" and CRLF.
MAX_ID_LENGTH = 900
_FILETIME_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)


class Translator(Protocol):
    """What the composer needs of a gettext catalogue (gettext.NullTranslations has it)."""

    def gettext(self, message: str, /) -> str: ...

    def ngettext(self, singular: str, plural: str, n: int, /) -> str: ...


def _english_when(value: datetime) -> str:
    return value.strftime("%d %b %Y %H:%M")


@dataclass(frozen=True, slots=True)
class Language:
    """The recipient's language: its BCP 47 tag (the HTML part's lang), its catalogue,
    and how it writes a date and time (UTC; the bridge passes CLDR's formats)."""

    tag: str
    translator: Translator
    when: Callable[[datetime], str] = _english_when


ENGLISH = Language("en", gettext.NullTranslations())


@dataclass(frozen=True, slots=True)
class ListInfo:
    """The community as a mailing list."""

    name: str
    slug: str
    address: str  # where posts to the community go (its first mapped address)
    mail_domain: str
    public_url: str = ""

    @property
    def list_id(self) -> str:
        return f"{self.slug}.{self.mail_domain}"

    @property
    def display_name(self) -> str:
        """The name on one line: header values must not break (RFC 5322 2.2)."""
        return _one_line(self.name) or self.slug


@dataclass(frozen=True, slots=True)
class AttachedFile:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class Post:
    """One message of a thread, as every subscriber gets it."""

    message_id: str  # the Message-ID we send it under, without angle brackets
    subject: str
    author_name: str
    author_address: str
    text: str
    date: datetime
    references: Sequence[str] = ()  # ancestors in the thread, oldest first
    thread_topic: str = ""
    thread_index_header: bytes = b""  # the thread's 22-byte Outlook conversation header
    thread_url: str = ""
    attachments: Sequence[tuple[str, int]] = ()  # (filename, size) of every file, listed
    files: Sequence[AttachedFile] = ()  # the files themselves, when they are to be attached


@dataclass(frozen=True, slots=True)
class Addressing:
    """What differs per recipient: the address, the reply token, the unsubscribe links."""

    recipient: str
    reply_to: str  # reply+TOKEN@mail_domain
    unsubscribe_url: str = ""  # https one-click (RFC 8058) and landing page
    unsubscribe_mailto: str = ""  # mailto: fallback for clients without https support
    mute_url: str = ""
    recipient_name: str = ""
    # A copy to an outside mailing list: its members must not be able to mute or
    # unsubscribe the list for everyone, so it carries no personal link.
    to_list: bool = False


@dataclass(frozen=True, slots=True)
class DigestItem:
    subject: str
    author_name: str
    text: str
    date: datetime
    thread_url: str = ""


@dataclass(frozen=True, slots=True)
class Digest:
    community: ListInfo
    items: Sequence[DigestItem]
    message_id: str
    date: datetime
    unsubscribe_url: str = ""
    unsubscribe_mailto: str = ""


@pass_context
def _gettext(context: Context, message: str) -> str:
    return _language(context).translator.gettext(message)


@pass_context
def _ngettext(context: Context, singular: str, plural: str, n: int) -> str:
    return _language(context).translator.ngettext(singular, plural, n)


def _language(context: Context) -> Language:
    language = context.get("language")
    return language if isinstance(language, Language) else ENGLISH


@cache
def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        extensions=["jinja2.ext.i18n"],
    )
    # One environment for every language: the catalogue is the render's `language`.
    # Newstyle: placeholders are checked and their values escaped in the HTML part.
    env.install_gettext_callables(  # type: ignore[attr-defined]  # added by the extension
        _gettext, _ngettext, newstyle=True
    )
    return env


def _render(name: str, **values: Any) -> str:
    return _environment().get_template(name).render(**values)


def _no_subject(language: Language) -> str:
    return language.translator.gettext("(no subject)")


def display_from(author_name: str, author_address: str, community_name: str) -> str:
    """'Ana Lima via Engineering': the author's name, or her address's local part."""
    who = _one_line(author_name) or _one_line(author_address.partition("@")[0]) or "Someone"
    return f"{who} via {community_name}"


def _one_line(value: str) -> str:
    """A header value from stored text: one line, no control characters (mail/headers.py)."""
    return clean_text(" ".join(value.split()))


def _mailbox(name: str, address: str) -> Address:
    """A mailbox header value that never raises, whatever an old row holds.

    The email package refuses addresses it cannot parse ("a b@example.com",
    a non-ASCII local part); given as parts they are written quoted instead,
    and a relay that refuses one answers for that copy alone.
    """
    name, address = _one_line(name), "".join(clean_text(address).split())
    try:
        return Address(name, addr_spec=address)
    except (ValueError, IndexError, HeaderParseError):
        local, at, domain = address.rpartition("@")
        return Address(name, username=local if at else address, domain=domain if at else "")


def _recipient(name: str, address: str) -> Address | str:
    """The To header: the recipient, or "undisclosed-recipients:;" for an address that cannot
    be written without SMTPUTF8 (non-ASCII; the email package would put encoded-words in it)
    or has no local part or domain. The envelope still carries the address."""
    mailbox = _mailbox(name, address)
    parts = (mailbox.username, mailbox.domain)
    return mailbox if all(p and p.isascii() for p in parts) else "undisclosed-recipients:;"


def _msg_id(value: str) -> str:
    """An id as stored, without brackets, space or control characters ('' if nothing is left)."""
    return "".join(clean_text(value).split()).strip("<>")


@lru_cache(maxsize=4096)
def _writable_id(value: str) -> bool:
    """Whether the email package writes `<value>` back unchanged.

    Ids seen in the wild it does not: "<@example.com>" and "<[x]@y>" make its
    parser raise IndexError, '<a"b@c>' is cut to "<a", and non-ASCII cannot
    go out without SMTPUTF8. A sender-chosen id longer than MAX_ID_LENGTH would
    make a line relays refuse (RFC 5321 4.5.3.1.6: 1000 octets with CRLF).
    """
    if not value or not value.isascii() or len(value) > MAX_ID_LENGTH:
        return False
    try:
        header = policy.SMTP.header_factory("Message-ID", f"<{value}>")
        folded: str = header.fold(policy=policy.SMTP)
        return folded == f"Message-ID: <{value}>\r\n"
    except (ValueError, IndexError, HeaderParseError):
        return False


def message_id_header(message_id: str, mail_domain: str) -> str:
    """`<id>` as stored, or a stable id of ours when the stored one cannot be written."""
    value = _msg_id(message_id)
    if not _writable_id(value):
        digest = hashlib.sha256(message_id.encode("utf-8", "surrogatepass")).hexdigest()[:16]
        value = f"cb.{digest}@{mail_domain}"
    return f"<{value}>"


def chain_headers(references: Sequence[str]) -> tuple[str | None, str | None]:
    """In-Reply-To and References values for a message whose ancestors are `references`."""
    # An id that cannot be written is left out: the others still thread the copy.
    ids = [i for i in map(_msg_id, references) if _writable_id(i)]
    ids = list(dict.fromkeys(ids))
    if not ids:
        return None, None
    if len(ids) > MAX_REFERENCES:
        ids = [ids[0], *ids[-(MAX_REFERENCES - 1) :]]
    return f"<{ids[-1]}>", " ".join(f"<{i}>" for i in ids)


def thread_index_header(key_hex: str | None, root_message_id: str, started: datetime) -> bytes:
    """The thread's Outlook conversation header: the one its mail already has, or a stable one.

    [MS-OXOMSG] 2.2.1.3: one reserved byte, five bytes of the FILETIME of the
    conversation's start, and a 16-byte GUID. Ours is derived from the root's
    Message-ID, so every copy of every message of the thread carries the same.
    """
    if key_hex:
        try:
            raw = bytes.fromhex(key_hex)
        except ValueError:
            raw = b""
        if len(raw) == 22:
            return raw
    when = started if started.tzinfo else started.replace(tzinfo=UTC)
    filetime = int((when - _FILETIME_EPOCH).total_seconds() * 10_000_000)
    guid = hashlib.md5(root_message_id.encode(), usedforsecurity=False).digest()
    return b"\x01" + filetime.to_bytes(8, "big")[:5] + guid


def thread_index(header: bytes, message_id: str, depth: int) -> str:
    """Header plus one 5-byte child block per level below the root, base64."""
    blocks = b"".join(
        hashlib.sha256(f"{message_id}/{level}".encode()).digest()[:5] for level in range(depth)
    )
    return base64.b64encode(header + blocks).decode("ascii")


def _list_headers(msg: EmailMessage, lst: ListInfo, unsubscribe: tuple[str, str]) -> None:
    msg["List-Id"] = f"{_phrase(lst.display_name)} <{lst.list_id}>"
    msg["List-Post"] = f"<mailto:{lst.address}>"
    if lst.public_url:
        msg["List-Archive"] = f"<{lst.public_url.rstrip('/')}/c/{lst.slug}>"
    url, mailto = unsubscribe
    links = [f"<{link}>" for link in (mailto, url) if link]
    if links:
        msg["List-Unsubscribe"] = ", ".join(links)
    if url.startswith(("https://", "http://")):
        # RFC 8058 wants https; http is allowed here only for test and loopback setups.
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg["Precedence"] = "list"
    # Outlook and Exchange: please no out-of-office answers to list mail.
    msg["X-Auto-Response-Suppress"] = "OOF, AutoReply"
    msg["X-Commons-Bridge-Loop"] = lst.mail_domain


def _phrase(name: str) -> str:
    """List-Id's description: a quoted string, or RFC 2047 encoded words when it is not
    ASCII (RFC 2919 section 3); the list id beside it is never encoded (mail/wire.py)."""
    if name.isascii():
        return _quoted(name)
    # The whole name, so a comma or dot in it cannot end the phrase; each word within
    # RFC 2047's 75 characters and whole characters (45 bytes make 60 of base64).
    words, chunk = [], b""
    for char in name:
        data = char.encode("utf-8")
        if len(chunk) + len(data) > 45:
            words.append(chunk)
            chunk = b""
        chunk += data
    words.append(chunk)
    return " ".join(f"=?utf-8?b?{base64.b64encode(w).decode('ascii')}?=" for w in words)


def _quoted(name: str) -> str:
    escaped = name.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def compose_post(
    post: Post, lst: ListInfo, to: Addressing, language: Language = ENGLISH
) -> EmailMessage:
    """A thread's message as one subscriber gets it, with a reply address only they can use."""
    msg = new_message()
    msg["From"] = _mailbox(
        display_from(post.author_name, post.author_address, lst.display_name), lst.address
    )
    msg["To"] = _recipient(to.recipient_name, to.recipient)
    msg["Reply-To"] = _mailbox(lst.display_name, to.reply_to)
    msg["Subject"] = _one_line(post.subject) or _no_subject(language)
    msg["Date"] = format_datetime(_aware(post.date))
    msg["Message-ID"] = message_id_header(post.message_id, lst.mail_domain)
    in_reply_to, references = chain_headers(post.references)
    if in_reply_to and references:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = references
    if post.thread_index_header:
        msg["Thread-Topic"] = _one_line(post.thread_topic or post.subject)
        msg["Thread-Index"] = thread_index(
            post.thread_index_header, post.message_id, len(post.references)
        )
    _list_headers(msg, lst, (to.unsubscribe_url, to.unsubscribe_mailto))
    values = {"post": post, "list": lst, "to": to, "language": language}
    msg.set_content(_render("post.txt", **values))
    msg.add_alternative(_render("post.html", **values), subtype="html")
    for file in post.files:
        maintype, _, subtype = file.content_type.partition("/")
        if not subtype or maintype in ("multipart", "message"):
            maintype, subtype = "application", "octet-stream"
        msg.add_attachment(
            file.data,
            maintype=maintype,
            subtype=subtype,
            filename=_one_line(file.filename) or "attachment",
        )
    return msg


def compose_notice(
    *,
    mail_domain: str,
    to: str,
    subject: str,
    text: str,
    message_id: str,
    date: datetime,
    sender_name: str = "Commons Bridge",
    reply_to: str = "",
    language: Language = ENGLISH,
) -> EmailMessage:
    """A system notice to one person (login link, held reply): automatic, not list mail.

    `reply_to` is a token address when the notice can be answered (a held-mail
    notice to a moderator: "approve" or "reject").
    """
    msg = new_message()
    msg["From"] = _mailbox(sender_name, f"bridge@{mail_domain}")
    msg["To"] = _recipient("", to)
    if reply_to:
        msg["Reply-To"] = _mailbox(sender_name, reply_to)
    msg["Subject"] = _one_line(subject) or _no_subject(language)
    msg["Date"] = format_datetime(_aware(date))
    msg["Message-ID"] = message_id_header(message_id, mail_domain)
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"
    msg["X-Commons-Bridge-Loop"] = mail_domain
    values = {"subject": subject, "text": text, "language": language}
    msg.set_content(_render("notice.txt", **values))
    msg.add_alternative(_render("notice.html", **values), subtype="html")
    return msg


def compose_digest(digest: Digest, to: Addressing, language: Language = ENGLISH) -> EmailMessage:
    """A day's messages of one community in one mail (Auto-Submitted: RFC 3834)."""
    lst = digest.community
    msg = new_message()
    msg["From"] = _mailbox(lst.display_name, lst.address)
    msg["To"] = _recipient(to.recipient_name, to.recipient)
    msg["Reply-To"] = _mailbox(lst.display_name, lst.address)
    count = len(digest.items)
    subject = language.translator.ngettext(
        "%(community)s digest: %(num)s new message",
        "%(community)s digest: %(num)s new messages",
        count,
    )
    msg["Subject"] = subject % {"community": lst.display_name, "num": count}
    msg["Date"] = format_datetime(_aware(digest.date))
    msg["Message-ID"] = message_id_header(digest.message_id, lst.mail_domain)
    msg["Auto-Submitted"] = "auto-generated"
    _list_headers(msg, lst, (to.unsubscribe_url, to.unsubscribe_mailto))
    values = {"digest": digest, "list": lst, "to": to, "language": language, "when": language.when}
    msg.set_content(_render("digest.txt", **values))
    msg.add_alternative(_render("digest.html", **values), subtype="html")
    return msg


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
