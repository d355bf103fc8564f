"""Phone and app footers ("Sent from my iPhone"): a history marker above quoted mail, a
signature at the end of the author's text."""

from __future__ import annotations

import re

# Phone and app footers, under which clients put the quoted original. The device part
# has no comma or semicolon, which keeps "Sent from my desk, which is easier" a sentence.
_DEVICE = r"[^\n,;]{1,80}?"
_FOOTER = (
    r"(?:sent (?:from|via|with|using) " + _DEVICE
    + r"|(?:get|download) outlook for " + _DEVICE
    + r"|outlook für (?:ios|android)[^\n,;]{0,40}"
    + r"|von meinem " + _DEVICE + r" gesendet"
    + r"|gesendet (?:von|mit) " + _DEVICE
    + r"|(?:télécharger|obtenir) outlook pour " + _DEVICE
    + r"|envoy[ée] (?:de|depuis|à partir de|avec) " + _DEVICE
    + r"|(?:obtener|descargar) outlook para " + _DEVICE
    + r"|enviado (?:desde|do|de|com|con) " + _DEVICE
    + r"|scarica outlook per " + _DEVICE
    + r"|inviato (?:da|dal|con) " + _DEVICE
    + r"|(?:verzonden|verstuurd) (?:vanaf|met|van|via) " + _DEVICE
    + r"|skickat från " + _DEVICE
    + r"|sendt fra " + _DEVICE
    + r"|wysłane (?:z|ze) " + _DEVICE
    + r"|odesláno z " + _DEVICE
    + r")[ \t.]*(?=\n|\Z)"
)  # fmt: skip
# Japanese and Chinese footers; tried only on text that is not ASCII, since the first
# one starts with any characters.
_CJK_FOOTER = (
    r"(?:[^\n]{1,30}から送信|(?:发自|發自|来自|來自)我的[^\n]{1,30}|從我的[^\n]{1,30}傳送)"
    r"[ \t.]*(?=\n|\Z)"
)
FOOTER_LINE = re.compile(rf"[ \t]*(?:{_FOOTER}|{_CJK_FOOTER})", re.I)
ASCII_FOOTER_LINE = re.compile(r"[ \t]*" + _FOOTER, re.I)
FOOTER_ANYWHERE = re.compile(r"\n[ \t]*(?=[sSgGdDtToOeEvViIwW])" + _FOOTER, re.I)
CJK_FOOTER_ANYWHERE = re.compile(r"\n[ \t]*" + _CJK_FOOTER)
# A phone reply is short: its footer is looked for as a history marker in this many
# first characters only (at the end of the author's text it is always found).
FOOTER_REACH = 2000
