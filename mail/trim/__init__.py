"""Split the text of a reply into what the author wrote, the history it quotes, and the signature.

Three conventions meet here. Top-posting (Gmail, Outlook, phones) puts the new
text first and the whole earlier conversation after an attribution line ("On
<date>, <name> wrote:", in a dozen languages and often wrapped over two or three
lines), an Outlook header block (From/Sent/To/Subject, also translated), a
"-----Original Message-----" rule, or a phone's "Sent from my iPhone" footer; the
history under it may or may not carry ">" marks. Bottom-posting puts one quote
block first, under its attribution, and the answer below it: that block is
history too. Interleaved replies, the norm in kernel patch review, answer
between quoted excerpts; those excerpts are the context of each answer, so they
stay visible and only a trailing quote block counts as history. Top-posting
markers are looked for above the first quote line only (below it they belong to
an interleaved answer, or are an inline patch's "From:/Date:/Subject:"), except
Outlook's rule over its header block, which Outlook appends under inline answers.

Forwarded mail is content, never history: a forward announced before any
history stays visible. The trimmer never returns an empty visible part for a
message that has text.

The signature is what follows the author's text: after an RFC 3676 "-- " line
(or its looser cousins "--" and "__"), a phone footer, a mailing-list footer, a
corporate disclaimer, or a short closing such as "Regards,\nAna Lima".

The parts: split.py puts the conventions together; history.py finds top-posting
markers, attribution.py attribution lines, signature.py and footers.py what ends the
author's text, words.py the vocabulary in many languages, text.py the scanning tools.

Bulk import trims every message, so the text is scanned by offsets with a few
compiled patterns that each start with a literal (see "markers that start a
line" below) rather than split into lines, and most vocabulary is applied only
to the few lines those scans find.

Not done yet: an Outlook forward without a marker line ("FW:" in the subject,
then a bare header block) reads as a reply, since only the text is seen here.
"""

from mail.trim.split import split_reply

__all__ = ["split_reply"]
