"""Deterministic synthetic corpus of corporate, cc-heavy e-mail (mboxrd).

    python bench/corpus.py --messages 100000 --seed 1 --out bench/out/synthetic.mbox

Everything is fictional: people are drawn from name lists written here, addresses live
under example.com / example.org / example.net and a few invented ``.example``
subsidiaries, and bodies are assembled from phrase lists about projects, budgets,
deadlines and incidents (Zipf-weighted, so full-text search sees a realistic skew).

What the corpus exercises:

* threads of 1-40 messages (heavy tail), 3-25 recipients on To/Cc, reply-all churn;
* Message-ID / In-Reply-To / References chains; some clients drop References, a few
  replies carry neither header but keep the "Re:" subject; about 5 % of replies are
  written to the file before their parent;
* client styles: Gmail ("On ... wrote:" and "> " quotes), Outlook (HTML-only or
  multipart/alternative, RE:/AW:/WG: prefixes, Thread-Index/Thread-Topic with one
  conversation GUID per thread, "From:/Sent:/To:/Subject:" history, legal
  disclaimers), Apple Mail, and plain-text clients with "-- " signatures;
* about 3 % of messages with small base64 attachments, plus inline cid images;
* charsets: utf-8, iso-8859-1 and windows-1252 quoted-printable, RFC 2047 subjects and
  display names, a few iso-2022-jp and gb2312 messages;
* mboxrd quoting: body lines matching ``^>*From `` get one more ``>``.

The output only depends on ``--seed`` (and the other flags): the same seed gives a
byte-identical file. Memory stays constant: only the threads in flight are kept.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import bisect
import functools
import math
import random
import re
import sys
import time
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, TypeVar

T = TypeVar("T")

# --------------------------------------------------------------------------------------
# Tunables
# --------------------------------------------------------------------------------------

START_EPOCH = 1609747200  # Mon 2021-01-04 08:00:00 UTC; fixed so output never depends on now
CONCURRENT_THREADS = 24  # threads in flight; replies of different threads interleave
MAX_THREAD = 40
POPULATION = 4000
GROUP_SIZE = 24
SWAP_RATE = 0.075  # chance per eligible step to write a reply before its parent (~5 %)
ATTACH_RATE = 0.03
INLINE_IMAGE_RATE = 0.04  # of Outlook HTML messages (signature logos)
LOG_RATE = 0.04  # pasted log excerpts (more often in incident threads)
NO_REFS_RATE = 0.03  # replies with neither In-Reply-To nor References
IRT_ONLY_RATE = 0.08  # replies whose client drops References
QUOTE_CAP = 14000  # quote the parent's whole history only while it is below this size
SENTENCE_POOL = 40000
MEAN_GAP_S = 55.0  # mean seconds between two messages in working hours

# --------------------------------------------------------------------------------------
# Fictional vocabulary
# --------------------------------------------------------------------------------------
# fmt: off

FIRST = {
    "en": (
        "Anna", "Ben", "Carla", "David", "Emma", "Frank", "Grace", "Henry", "Isla", "Jack",
        "Karen", "Liam", "Megan", "Noah", "Olivia", "Peter", "Rachel", "Sam", "Tara", "Victor",
        "Wendy", "Zach", "Priya", "Omar", "Nadia", "Raj", "Leah", "Owen", "Maya", "Ethan", "Chloe",
        "Dylan", "Fiona", "Gavin", "Holly", "Ian", "Jenna", "Kyle", "Laura", "Marcus",
    ),
    "de": (
        "Jörg", "Jürgen", "Anja", "Bernd", "Claudia", "Dieter", "Sabine", "Uwe", "Katrin",
        "Matthias", "Stefanie", "Torsten", "Ute", "Björn", "Günter", "Sören", "Heike", "Lars",
        "Maren", "Tobias", "Käthe", "Ralf", "Silke", "Henrik",
    ),
    "fr": (
        "Hélène", "José", "Renée", "Amélie", "François", "Cécile", "Jérôme", "Léa", "Noël",
        "Gaëlle", "Mathéo", "Zoé", "Thierry", "Sophie", "Benoît", "Élodie", "Camille", "Yves",
        "Inès", "Loïc",
    ),
    "ja": ("健", "美咲", "翔太", "陽子", "大輔", "由美", "拓也", "恵", "直樹", "彩"),
    "zh": ("伟", "芳", "娜", "敏", "静", "强", "磊", "洋", "艳", "军"),
}
FIRST_LATIN = {
    "ja": ("Ken", "Misaki", "Shota", "Yoko", "Daisuke", "Yumi", "Takuya", "Megumi", "Naoki", "Aya"),
    "zh": ("Wei", "Fang", "Na", "Min", "Jing", "Qiang", "Lei", "Yang", "Yan", "Jun"),
}
LAST = {
    "en": (
        "Keller", "Marsh", "Okafor", "Brandt", "Holloway", "Prescott", "Whitlock", "Nakamura",
        "Delgado", "Fairbanks", "Abernathy", "Quinlan", "Thornbury", "Ashdown", "Caldwell",
        "Pemberton", "Rowntree", "Sandoval", "Vickers", "Winslow", "Haddad", "Patel", "Osei",
    ),
    "de": (
        "Schäfer", "Müller", "Weißbach", "Krämer", "Löffler", "Brückner", "Hoffmann", "Lindqvist",
        "Ødegaard", "Vogt", "Zimmermann", "Köhler", "Jäger", "Stöckl", "Färber",
    ),
    "fr": (
        "Lefèvre", "Dubois", "Moreau", "Bérenger", "Castaño", "Ibáñez", "Girard", "Lemaître",
        "Fournier", "Chevalier", "Mercier", "Rousseau", "Gauthier", "Périer",
    ),
    "ja": ("佐藤", "鈴木", "高橋", "渡辺", "伊藤", "中村", "小林", "山本"),
    "zh": ("王", "李", "张", "刘", "陈", "杨", "黄", "赵"),
}
LAST_LATIN = {
    "ja": ("Sato", "Suzuki", "Takahashi", "Watanabe", "Ito", "Nakamura", "Kobayashi", "Yamamoto"),
    "zh": ("Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao"),
}
SYLLABLES = (
    "bran", "dor", "vel", "mar", "kin", "tos", "lund", "ber", "wick", "ova", "sten", "hal", "rid",
    "mo", "tal", "fen", "gar", "lis", "quar", "zen", "cor", "thal", "ny", "pel", "ash", "brook",
    "dal", "ver", "sel", "ton", "rin", "mir", "cas", "tor", "len", "vo",
)

# (domain, company, locale weights, client weights gmail/outlook/apple/plain, size weight)
DOMAINS: tuple[tuple[str, str, dict[str, int], tuple[int, int, int, int], int], ...] = (
    ("example.com", "Example Corporation", {"en": 8, "de": 1, "fr": 1}, (15, 60, 15, 10), 30),
    ("example.org", "Example Foundation", {"en": 6, "fr": 2, "de": 2}, (35, 20, 20, 25), 10),
    ("example.net", "Example Networks Inc.", {"en": 9, "zh": 1}, (50, 15, 25, 10), 12),
    ("harborlight.example", "Harborlight Logistik GmbH", {"de": 8, "en": 2}, (5, 80, 5, 10), 14),
    ("quillmere.example", "Quillmere SAS", {"fr": 8, "en": 2}, (15, 65, 15, 5), 9),
    ("tallowfield.example", "Tallowfield Manufacturing Ltd", {"en": 10}, (10, 70, 10, 10), 8),
    ("brisk-orbit.example", "Brisk Orbit K.K.", {"ja": 7, "en": 3}, (10, 40, 10, 40), 4),
    ("jadeport.example", "Jadeport Trading Co., Ltd.", {"zh": 7, "en": 3}, (20, 40, 10, 30), 4),
    ("vantacrest.example", "Vantacrest Analytics Inc.", {"en": 10}, (45, 20, 30, 5), 9),
)
TZ_BY_LOCALE = {
    "en": (-300, -360, -480, 0, 0, 330, -300),
    "de": (60, 60, 120),
    "fr": (60, 60, 120),
    "ja": (540,),
    "zh": (480,),
}
TITLES = (
    "Senior Controller", "Program Manager", "Site Reliability Engineer", "Head of Procurement",
    "Finance Business Partner", "Solutions Architect", "Legal Counsel", "Product Owner",
    "Director, Platform Engineering", "Account Executive", "HR Business Partner",
    "Facilities Coordinator", "Data Engineer", "Security Analyst", "VP Operations",
    "Project Coordinator", "Customer Success Lead", "Release Manager", "Chief of Staff",
)
TEAMS = (
    "Finance", "Procurement", "Legal", "Platform Engineering", "Customer Success", "Facilities",
    "HR", "Security", "Data Warehouse", "Field Sales EMEA", "Marketing Ops", "IT Service Desk",
    "Treasury", "Internal Audit", "Supply Chain", "Payroll", "Network Operations", "QA",
    "Release Engineering", "Compliance", "Corporate Development", "Tax", "Logistics Planning",
)
SYSTEMS = (
    "billing service", "SAP export", "VPN concentrator", "CRM", "payroll run", "data lake",
    "ticketing queue", "build farm", "expense tool", "warehouse scanner fleet", "SSO portal",
    "invoice OCR pipeline", "nightly ETL", "customer portal", "mail relay", "badge readers",
    "order API", "reporting cube", "backup appliance", "print servers", "label printers",
    "forecast model", "HR system", "contract database", "shipping gateway", "intranet wiki",
)
NOUNS = (
    "budget", "forecast", "invoice", "purchase order", "deadline", "milestone", "rollout",
    "migration", "incident", "postmortem", "root cause", "headcount", "contract", "renewal",
    "vendor", "quote", "statement of work", "roadmap", "sprint", "release", "hotfix", "backlog",
    "KPI", "dashboard", "audit", "compliance review", "offsite", "workshop", "slide deck",
    "steering committee", "risk register", "capacity plan", "cost centre", "approval",
    "change request", "test plan", "cutover", "training", "onboarding", "handover", "license",
    "SLA", "escalation", "spreadsheet", "board pack", "accrual", "timeline", "scope",
)
VERBS = (
    "review", "sign off", "finalise", "update", "re-plan", "move", "approve", "escalate",
    "double-check", "share", "circulate", "pull forward", "push back", "split", "reconcile",
    "prioritise", "close out", "re-run", "validate", "freeze", "consolidate", "draft",
)
ADJECTIVES = (
    "revised", "updated", "final", "preliminary", "draft", "latest", "consolidated", "open",
    "outstanding", "critical", "blocking", "urgent", "quarterly", "annual", "regional",
)
WHEN = (
    "Friday", "end of day", "EOD tomorrow", "next Tuesday", "the end of the month",
    "the board meeting", "Q3 close", "the go-live", "the freeze", "the offsite", "Monday noon",
    "our next sync", "the audit", "the steering committee", "mid-March", "the holidays",
)
CITIES = (
    "Zürich", "Lyon", "Hamburg", "Osaka", "Shenzhen", "Leeds", "Austin", "Montréal", "Kraków",
    "Malmö", "Porto", "Göteborg",
)
INCIDENT_VERBS = (
    "timed out", "failed over", "dropped connections", "ran out of disk", "threw 502s", "stalled",
    "double-posted entries", "lost its lease", "went read-only", "spiked to 100% CPU",
)
ACKS = (
    "Thanks, will do.", "Agreed.", "+1", "Noted, thanks.", "Looks good to me.", "Approved.",
    "Thanks for the quick turnaround!", "Works for me.", "Confirmed.",
    "Let's discuss in the sync.", "Sounds good.", "Thanks all, closing this one.",
)
TEMPLATES = (
    "Can we {verb} the {noun} for {project} before {when}?",
    "The {system} {iverb} again this morning; {team} is looking into it.",
    "Budget for {project} is now {money}, which is {pct} over the {adj} forecast.",
    "I have attached the {adj} {noun}; please {verb} it by {when}.",
    "From the {team} side we are fine with the {noun}, as long as the {noun2} is not affected.",
    "From what I can see the {system} has been stable since the {noun}.",
    "{first} mentioned that the {noun} for {project} still needs a {noun2}.",
    "We agreed to {verb} the {noun} and revisit it at {when}.",
    "Could you {verb} the {term} numbers with {team} before I send them to {first}?",
    "The {adj} {noun} shows {money} against a plan of {money2}.",
    "Please treat this as {adj}: the {system} is blocking the {noun} for {project}.",
    "I don't think we can {verb} the {noun} without another {noun2} from {team}.",
    "Root cause looks like a misconfigured {term} on the {system}.",
    "Action item for {team}: {verb} the {noun} and report back by {when}.",
    "Adding {first} from {team} for visibility on the {noun}.",
    "The {city} site will need the {noun} before {when}.",
    "We are tracking this in {ticket}; the {system} workaround is in place.",
    "As discussed, {project} moves to {when} and the {noun} stays as is.",
    "Headcount for {team} stays flat, but we need {num} contractors for {project}.",
    "Let's not {verb} the {noun} until the {noun2} is signed.",
    "My understanding is that the {term} change only affects the {system}.",
    "The vendor quote came in at {money}, so we need another {noun} round.",
    "I will {verb} the {adj} {noun} and circulate it to the {team} group.",
    "If the {noun} slips past {when}, {project} misses the {noun2} window.",
    "Quick reminder that the {noun} is due {when}.",
    "We saw {num} failed jobs on the {system} overnight, all related to {term}.",
    "The postmortem for {ticket} is scheduled for {when}.",
    "{team} asked whether the {noun} includes the {term} work.",
    "Here is where we landed on the {noun}: {pct} of the scope by {when}, the rest later.",
    "The {system} cutover went fine apart from {num} tickets about {term}.",
    "I would prefer to {verb} the {noun} now rather than at {when}.",
    "Numbers attached; the {adj} {noun} is {money} lower than last quarter.",
    "Could someone from {team} confirm the {noun} owner for {project}?",
    "We need a decision on the {noun} today, otherwise {project} slips.",
    "The {term} dependency is the main risk in the {noun}.",
    "Capacity on the {system} is at {pct}, so we should {verb} the {noun}.",
    "Sorry for the delay, I was at the {city} offsite.",
    "Please use the {adj} template for the {noun}, the old one has wrong cost centres.",
    "{first} and I went through the {noun} line by line; comments inline.",
    "The SLA for the {system} is {pct}, and we were below it for {num} hours.",
    "Legal needs to {verb} the {noun} before we send it to the vendor.",
    "Invoice {ticket} for {money} is still waiting for approval in the {system}.",
    "We should {verb} the {term} rollout to {city} first.",
    "I spoke with {first}; {team} can take the {noun} from {when}.",
    "The {noun} for {project} is on track, {noun2} is at risk.",
)
FACTS = (
    "Ticket {ticket} is still open with {num} linked cases.",
    "PO {po} covers {money} until {date}.",
    "The meeting is on {date} at {hour}:00 in room {room}.",
    "Current burn is {money} per week, runway until {date}.",
    "Change {chg} is approved for the window on {date}.",
    "We are at {pct} of the {project} budget with {num} days to go.",
)
LOG_LINES = (
    "{ts} ERROR [{svc}-{n}] timeout after {ms}ms calling {svc2} (attempt {a}/5)",
    "{ts} WARN  [{svc}-{n}] retrying batch {batch}: connection reset by peer",
    "{ts} INFO  [{svc}-{n}] processed {n2} records in {ms}ms",
    "{ts} ERROR [{svc}-{n}] job {batch} failed: lock wait timeout exceeded",
    "{ts} WARN  [{svc}-{n}] queue depth {n2} above threshold",
)
SERVICES = (
    "billing-worker", "ledger-api", "etl-runner", "sso-gw", "orders", "ocr-batch", "shipping-sync",
    "report-gen",
)

GREETING = {
    "en": (
        "Hi {first},", "Hello {first},", "Hi all,", "Dear {first},", "Team,", "{first},",
        "Hi everyone,", "Morning {first},",
    ),
    "de": (
        "Hallo {first},", "Hi {first},", "Liebe Kolleginnen und Kollegen,", "Hallo zusammen,",
        "Hi all,",
    ),
    "fr": ("Bonjour {first},", "Bonjour à tous,", "Hi {first},", "Salut {first},"),
    "ja": (
        "{first}さん\n\nお疲れ様です。", "各位\n\nいつもお世話になっております。",
        "Hi {first},",
    ),
    "zh": ("{first}，您好！", "各位好，", "Hi {first},"),
}
CLOSING = {
    "en": ("Thanks,", "Best regards,", "Cheers,", "Best,", "Kind regards,", "Thanks!"),
    "de": ("Viele Grüße", "Beste Grüße", "Danke und Gruß", "Mit freundlichen Grüßen", "Thanks,"),
    "fr": ("Cordialement,", "Bonne journée,", "Merci,", "Bien à vous,", "Best regards,"),
    "ja": ("よろしくお願いいたします。", "以上です。", "Best regards,"),
    "zh": ("谢谢！", "此致", "Best regards,"),
}
CJK_LINES = {
    "ja": (
        "資料を添付しましたので、ご確認ください。", "来週の会議で詳細を説明します。",
        "予算の件は承知しました。", "スケジュールの調整をお願いします。",
    ),
    "zh": ("请查收附件。", "预算问题我们下周再讨论。", "这个项目的进度需要确认。", "请尽快回复。"),
}
SUBJECTS = (
    "{project}: {noun} update", "Q{q} budget review – {team}", "[{ticket}] {system} {iverb}",
    "Action required: {noun} sign-off by {when}", "Re-planning the {project} {noun}",
    "Offsite {city} – agenda draft", "Vendor renewal for the {system}",
    "Headcount request for {team}", "Postmortem: {system} outage", "{project} go-live checklist",
    "Contract draft v{num} – {project}", "Draft: Q{q} forecast", "{adj} {noun} for {project}",
    "Invitation: {project} steering committee", "FYI: {system} maintenance window",
    "Question about the {noun}", "{team} / {project} sync notes", "Cost overrun on {project}",
)
SUBJECTS_LOCAL = {
    "de": (
        "Präsentation für den Lenkungskreis {project}", "Übergabe {system} an {team}",
        "Kostenschätzung {project} – Rückfragen", "Termin für die Prüfung im {city} Büro",
    ),
    "fr": (
        "Réunion budget Q{q} – ordre du jour", "Coût de la migration {project}",
        "Échéancier {project} révisé", "Compte rendu du comité {team}",
    ),
    "ja": ("{project} 進捗報告", "会議資料の共有（{project}）", "予算見直しのお願い"),
    "zh": ("关于{project}项目预算的确认", "{project} 上线计划", "会议纪要：{team}"),
}
DISCLAIMERS = (
    "CONFIDENTIALITY NOTICE: This e-mail and any attachments are intended solely for the "
    "named addressee(s) and may contain confidential, proprietary or legally privileged "
    "information of {company}. If you are not an intended recipient, please notify the "
    "sender immediately by replying to this message and delete it from your system; any "
    "review, copying, distribution or other use of this message by persons other than the "
    "intended recipient is prohibited. {company} accepts no liability for damage caused by "
    "any virus transmitted by this e-mail. E-mail communication is not guaranteed to be "
    "secure or error-free, and information could be intercepted, corrupted or lost.",
    "{company} | Registered office: 1 Example Plaza, Example City | Company number 00000000. "
    "The information contained in this communication is confidential and may be subject to "
    "legal privilege. It is intended only for the recipients named above. Statements and "
    "opinions expressed here are those of the sender and do not necessarily reflect those "
    "of {company}. Please consider the environment before printing this e-mail.",
    "Diese E-Mail enthält vertrauliche und/oder rechtlich geschützte Informationen der "
    "{company}. Wenn Sie nicht der richtige Adressat sind oder diese E-Mail irrtümlich "
    "erhalten haben, informieren Sie bitte sofort den Absender und vernichten Sie diese "
    "Mail. Das unerlaubte Kopieren sowie die unbefugte Weitergabe dieser Mail sind nicht "
    "gestattet. This e-mail may contain confidential information; if you are not the "
    "intended recipient, please notify the sender and delete it.",
    "Ce message et ses pièces jointes sont confidentiels et établis à l'intention exclusive "
    "de leurs destinataires. Toute utilisation non conforme à sa destination, toute "
    "diffusion ou toute publication, totale ou partielle, est interdite sauf autorisation "
    "expresse de {company}. Si vous recevez ce message par erreur, merci de le détruire et "
    "d'en avertir immédiatement l'expéditeur.",
)
ATTACH_NAMES = (
    "Q{q}_Budget_v{n}.pdf", "Forecast_{project}.pdf", "Präsentation_{project}.pdf",
    "screenshot_{n}.png", "org_chart.png", "Postmortem_{ticket}.pdf", "Coût_estimé_v{n}.pdf",
    "diagram_{n}.png",
)

# Client styles
GMAIL, OUTLOOK, APPLE, PLAIN = 0, 1, 2, 3
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
WEEKDAYS_LONG = {
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    "de": ("Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag"),
    "fr": ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"),
}
MONTHS = ("", "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
MONTHS_LONG = {
    "en": (
        "", "January", "February", "March", "April", "May", "June", "July", "August", "September",
        "October", "November", "December",
    ),
    "de": (
        "", "Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September",
        "Oktober", "November", "Dezember",
    ),
    "fr": (
        "", "janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre",
        "octobre", "novembre", "décembre",
    ),
}
OUTLOOK_LABELS = {
    "en": ("From", "Sent", "To", "Cc", "Subject", "RE: ", "FW: "),
    "de": ("Von", "Gesendet", "An", "Cc", "Betreff", "AW: ", "WG: "),
    "fr": ("De\u00a0", "Envoyé\u00a0", "À\u00a0", "Cc\u00a0", "Objet\u00a0", "RE : ", "TR : "),
}
OUTLOOK_SEPARATORS = {
    "en": ("________________________________", "-----Original Message-----"),
    "de": ("________________________________", "-----Ursprüngliche Nachricht-----"),
    "fr": ("________________________________", "-----Message d'origine-----"),
}
OUTLOOK_HEAD = (
    '<html xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:office:'
    'office" xmlns:w="urn:schemas-microsoft-com:office:word" xmlns:m="http://schemas.microsof'
    't.com/office/2004/12/omml" xmlns="http://www.w3.org/TR/REC-html40">\n<head>\n<meta http-'
    'equiv="Content-Type" content="text/html; charset={charset}">\n<meta name="Generator" con'
    'tent="Microsoft Word 15 (filtered medium)">\n<style><!--\n/* Font Definitions */\n@font-f'
    'ace\n\t{{font-family:"Cambria Math";\n\tpanose-1:2 4 5 3 5 4 6 3 2 4;}}\n@font-face\n\t'
    "{{font-family:Calibri;\n\tpanose-1:2 15 5 2 2 2 4 3 2 4;}}\n/* Style Definitions */\np."
    "MsoNormal, li.MsoNormal, div.MsoNormal\n\t{{margin:0cm;\n\tfont-size:11.0pt;\n\tfont-fam"
    'ily:"Calibri",sans-serif;}}\na:link, span.MsoHyperlink\n\t{{mso-style-priority:99;\n\tco'
    "lor:#0563C1;\n\ttext-decoration:underline;}}\nspan.EmailStyle17\n\t{{mso-style-type:perso"
    'nal-compose;\n\tfont-family:"Calibri",sans-serif;\n\tcolor:windowtext;}}\n.MsoChpDefault'
    '\n\t{{mso-style-type:export-only;\n\tfont-family:"Calibri",sans-serif;}}\n@page WordSec'
    "tion1\n\t{{size:612.0pt 792.0pt;\n\tmargin:72.0pt 72.0pt 72.0pt 72.0pt;}}\ndiv.WordSectio"
    'n1\n\t{{page:WordSection1;}}\n--></style>\n</head>\n<body lang="{lang}" link="#0563C1" v'
    'link="#954F72" style="word-wrap:break-word">\n<div class="WordSection1">\n'
)
FROM_LINE = re.compile(rb"\n(>*From )")  # never on the first line: that is a header
QUOTED_FROM = re.compile(rb"\n>+From ")
Q_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!*+-/")
FOLD = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "ø": "o", "Ø": "O", "æ": "ae"})


# fmt: on
# --------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------


def zipf_cum(n: int, s: float = 1.07) -> list[float]:
    """Cumulative Zipf weights for ranks 1..n."""
    cum: list[float] = []
    total = 0.0
    for rank in range(1, n + 1):
        total += 1.0 / rank**s
        cum.append(total)
    return cum


class Picker:
    """Zipf-weighted choice from a fixed sequence (rank = position)."""

    __slots__ = ("cum", "items", "total")

    def __init__(self, items: Sequence[str], s: float = 1.07) -> None:
        self.items = tuple(items)
        self.cum = zipf_cum(len(self.items), s)
        self.total = self.cum[-1]

    def __call__(self, rnd: Callable[[], float]) -> str:
        return self.items[bisect.bisect_left(self.cum, rnd() * self.total)]


def ascii_fold(text: str) -> str:
    """Accent-free lower-case form for e-mail local parts."""
    text = text.lower().translate(FOLD)
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


def html_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def quote_lines(text: str, prefix: str = "> ") -> str:
    """Prefix every line with a quote marker (empty lines get a bare '>')."""
    quoted = prefix + text.replace("\n", "\n" + prefix)
    return quoted.replace("\n" + prefix + "\n", "\n" + prefix.rstrip() + "\n")


def wrap(paragraph: str, width: int = 72) -> str:
    """Greedy word wrap (much faster than textwrap for our purposes)."""
    if len(paragraph) <= width:
        return paragraph
    out: list[str] = []
    start, end = 0, len(paragraph)
    while end - start > width:
        cut = paragraph.rfind(" ", start, start + width + 1)
        if cut <= start:
            cut = paragraph.find(" ", start + width)
            if cut < 0:
                break
        out.append(paragraph[start:cut])
        start = cut + 1
    out.append(paragraph[start:])
    return "\n".join(out)


def encoded_words(text: str, charset: str, mode: str) -> str:
    """RFC 2047 encode ``text`` into one or more encoded words of at most 75 characters."""
    if text.isascii():
        return text
    words: list[str] = []
    while text:
        lo, hi = 1, len(text)
        while lo < hi:  # longest prefix that still fits in one encoded word
            mid = (lo + hi + 1) // 2
            if len(_one_word(text[:mid], charset, mode)) <= 75:
                lo = mid
            else:
                hi = mid - 1
        words.append(_one_word(text[:lo], charset, mode))
        text = text[lo:]
    return "\n ".join(words)


def _one_word(text: str, charset: str, mode: str) -> str:
    data = text.encode(charset, "replace")
    if mode == "B":
        payload = base64.b64encode(data).decode("ascii")
    else:
        payload = "".join(
            chr(b) if b in Q_SAFE else "_" if b == 0x20 else f"={b:02X}" for b in data
        )
    return f"=?{charset}?{mode}?{payload}?="


def has_long_line(text: str, limit: int = 900) -> bool:
    return len(text) > limit and max(map(len, text.split("\n"))) > limit


def transfer_encoding(charset: str, text: str, client: int) -> str:
    """Content-Transfer-Encoding the way the sending client would pick it."""
    if charset == "gb2312":
        return "base64"
    if charset == "iso-2022-jp":
        return "base64" if has_long_line(text) else "7bit"
    if client in (GMAIL, PLAIN) and not has_long_line(text):
        return "7bit" if text.isascii() else "8bit" if client == PLAIN else "quoted-printable"
    return "quoted-printable"


def can_encode(text: str, charset: str) -> bool:
    try:
        text.encode(charset)
    except UnicodeEncodeError:
        return False
    return True


def display_header(name: str, addr: str, charset: str, mode: str) -> str:
    """Format one address for a header: plain, quoted or RFC 2047 encoded phrase."""
    if not name.isascii():
        if not can_encode(name, charset):
            charset = "utf-8"
        return f"{encoded_words(name, charset, mode)} <{addr}>"
    if any(c in name for c in ',.()"'):
        return f'"{name}" <{addr}>'
    return f"{name} <{addr}>"


def fold_addresses(label: str, addrs: Sequence[str]) -> str:
    """``Label: a, b, c`` folded near 78 columns at address boundaries."""
    lines: list[str] = []
    line = label + ":"
    for i, addr in enumerate(addrs):
        piece = " " + addr + ("," if i < len(addrs) - 1 else "")
        if len(line) + len(piece) > 78 and not line.endswith(":"):
            lines.append(line)
            line = piece
        else:
            line += piece
    lines.append(line)
    return "\n".join(lines)


# --------------------------------------------------------------------------------------
# Dates
# --------------------------------------------------------------------------------------


def local(t: int, tz: int) -> time.struct_time:
    return time.gmtime(t + tz * 60)


def rfc_date(t: int, tz: int) -> str:
    g = local(t, tz)
    sign = "-" if tz < 0 else "+"
    off = abs(tz)
    return (
        f"{WEEKDAYS[g.tm_wday]}, {g.tm_mday} {MONTHS[g.tm_mon]} {g.tm_year} "
        f"{g.tm_hour:02d}:{g.tm_min:02d}:{g.tm_sec:02d} {sign}{off // 60:02d}{off % 60:02d}"
    )


def asctime(t: int) -> str:
    g = time.gmtime(t)
    return (
        f"{WEEKDAYS[g.tm_wday]} {MONTHS[g.tm_mon]} {g.tm_mday:2d} "
        f"{g.tm_hour:02d}:{g.tm_min:02d}:{g.tm_sec:02d} {g.tm_year}"
    )


def outlook_date(t: int, tz: int, lang: str) -> str:
    g = local(t, tz)
    day = WEEKDAYS_LONG[lang][g.tm_wday]
    month = MONTHS_LONG[lang][g.tm_mon]
    if lang == "de":
        return f"{day}, {g.tm_mday}. {month} {g.tm_year} {g.tm_hour:02d}:{g.tm_min:02d}"
    if lang == "fr":
        return f"{day} {g.tm_mday} {month} {g.tm_year} {g.tm_hour:02d}:{g.tm_min:02d}"
    hour = g.tm_hour % 12 or 12
    ampm = "AM" if g.tm_hour < 12 else "PM"
    return f"{day}, {month} {g.tm_mday}, {g.tm_year} {hour}:{g.tm_min:02d} {ampm}"


def gmail_attr(t: int, tz: int) -> str:
    g = local(t, tz)
    return f"On {WEEKDAYS[g.tm_wday]}, {g.tm_mday} {MONTHS[g.tm_mon]} {g.tm_year} at " + (
        f"{g.tm_hour:02d}:{g.tm_min:02d}"
    )


def apple_attr(t: int, tz: int) -> str:
    g = local(t, tz)
    return f"On {g.tm_mday} {MONTHS[g.tm_mon]} {g.tm_year}, at {g.tm_hour:02d}:{g.tm_min:02d}"


def plain_attr(t: int, tz: int) -> str:
    g = local(t, tz)
    return f"On {g.tm_mday:02d}/{g.tm_mon:02d}/{g.tm_year} {g.tm_hour:02d}:{g.tm_min:02d}"


def qp_encode(text: str, charset: str) -> bytes | None:
    """Quoted-printable encoding of ``text`` in ``charset``; None if it does not fit."""
    try:
        return binascii.b2a_qp(text.encode(charset))
    except UnicodeEncodeError:
        return None


def join_all(pieces: list[bytes | None]) -> bytes | None:
    """Concatenation of the pieces, or None if any of them is None."""
    present = [p for p in pieces if p is not None]
    return b"".join(present) if len(present) == len(pieces) else None


def mime_leaf(content_type: str, cte: str, payload: bytes | None) -> bytes:
    assert payload is not None
    if not payload.endswith(b"\n"):
        payload += b"\n"
    head = f"Content-Type: {content_type}\nContent-Transfer-Encoding: {cte}\n\n"
    return head.encode("ascii") + payload


def filename_param(name: str) -> str:
    """``filename="..."``, or its RFC 2231 form for non-ASCII names."""
    if name.isascii():
        return f'filename="{name}"'
    enc = "".join(
        c
        if (c.isalnum() and c.isascii()) or c in "._-"
        else "".join(f"%{b:02X}" for b in c.encode())
        for c in name
    )
    return f"filename*=utf-8''{enc}"


def mboxrd_escape(raw: bytes) -> bytes:
    """Add one '>' to every line matching ``^>*From `` (mboxrd)."""
    if b"From " not in raw:
        return raw
    if QUOTED_FROM.search(raw):
        return FROM_LINE.sub(rb"\n>\1", raw)
    return raw.replace(b"\nFrom ", b"\n>From ")


@functools.cache
def slot_names(template: str) -> tuple[str, ...]:
    return tuple(re.findall(r"\{(\w+)\}", template))


@functools.cache
def html_frame_qp(client: int, charset: str, lang: str) -> tuple[bytes, bytes]:
    head, tail = html_frame(client, charset, lang)
    return binascii.b2a_qp(head.encode("ascii")), binascii.b2a_qp(tail.encode("ascii"))


@functools.cache
def html_frame(client: int, charset: str, lang: str) -> tuple[str, str]:
    """Document head and tail around a message's HTML."""
    if client == OUTLOOK:
        body_lang = {"de": "DE", "fr": "FR"}.get(lang, "EN-US")
        return OUTLOOK_HEAD.format(charset=charset, lang=body_lang), "</div>\n</body>\n</html>\n"
    head = (
        f'<html><head><meta http-equiv="content-type" content="text/html; charset={charset}">'
        "</head><body>\n"
    )
    return head, "</body></html>\n"


def filetime(t: int) -> int:
    return (t + 11644473600) * 10_000_000


# --------------------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------------------


@dataclass(slots=True)
class Person:
    name: str
    first: str
    addr: str
    header: str  # "Name <addr>" ready for To/Cc/From
    locale: str
    lang: str  # Outlook UI language: en/de/fr
    client: int
    charset: str
    qmode: str  # RFC 2047 mode for this person's client
    tz: int
    hdr_tz: int  # Exchange writes +0000
    domain: str
    host: str
    sig_plain: str
    sig_html: str
    quote_prefix: str = "> "


@dataclass(slots=True)
class Text:
    """A body as ``head + <quoted source> + tail``, so encoded history can be reused.

    ``src`` is the index (in the thread) of the message whose text is embedded verbatim,
    -1 for none; ``whole`` says whether its full text or only its own new part is used.
    Every piece ends with a newline: quoted-printable is line-local, so the encoding of
    the whole is the concatenation of the encodings of the pieces.
    """

    head: str
    src: int = -1
    whole: bool = False
    tail: str = ""
    size: int = 0


@dataclass(slots=True)
class Msg:
    mid: str
    sender: int
    t: int
    subject: str
    refs: tuple[str, ...]
    to: list[int]
    cc: list[int]
    paras: list[str]
    new_plain: str
    full_plain: str
    plain: Text
    new_html: str
    html: Text | None
    tindex: bytes


@dataclass(slots=True)
class Thread:
    base: str
    participants: list[int]
    size: int
    guid: bytes
    incident: bool
    msgs: list[Msg] = field(default_factory=list)
    encoded: dict[tuple[str, str, str], str] = field(default_factory=dict)
    qp: dict[tuple[int, str, bool, str], bytes | None] = field(default_factory=dict)


# --------------------------------------------------------------------------------------
# Generator
# --------------------------------------------------------------------------------------


class Corpus:
    """Streams a synthetic mailbox; all randomness comes from one seeded generator."""

    def __init__(self, seed: int, list_id: str | None) -> None:
        self.rng = random.Random(seed)
        self.rnd = self.rng.random
        self.list_id = list_id
        self.clock = START_EPOCH
        self.sizes = zipf_cum(MAX_THREAD, 1.55)
        self.words = self._vocabulary()
        self.people = self._population()
        self.pool = self._sentence_pool()
        self.threads_started = 0
        self.bytes_written = 0
        self.swapped = 0

    # -- vocabulary ----------------------------------------------------------------

    def pick(self, seq: Sequence[T]) -> T:
        """Uniform choice; cheaper than ``Random.choice`` in the hot path."""
        return seq[int(self.rnd() * len(seq))]

    def below(self, n: int) -> int:
        return int(self.rnd() * n)

    def between(self, lo: int, hi: int) -> int:
        """Uniform integer in [lo, hi]."""
        return lo + int(self.rnd() * (hi - lo + 1))

    def _made_word(self, parts: int) -> str:
        return "".join(self.pick(SYLLABLES) for _ in range(parts))

    def _vocabulary(self) -> dict[str, Picker]:
        rng = self.rng
        projects = [self._made_word(self.between(2, 3)).capitalize() for _ in range(1500)]
        terms = [self._made_word(self.between(2, 4)) for _ in range(12000)]
        firsts = [n for names in (FIRST["en"], FIRST["de"], FIRST["fr"]) for n in names]
        rng.shuffle(firsts)
        return {
            "project": Picker(projects, 1.1),
            "term": Picker(terms, 1.0),
            "team": Picker(TEAMS),
            "system": Picker(SYSTEMS),
            "noun": Picker(NOUNS, 0.9),
            "verb": Picker(VERBS),
            "adj": Picker(ADJECTIVES),
            "when": Picker(WHEN),
            "city": Picker(CITIES),
            "iverb": Picker(INCIDENT_VERBS),
            "first": Picker(firsts, 0.8),
        }

    def _slot(self, name: str) -> str:
        rng = self.rng
        base = name.rstrip("2")
        if base in self.words:
            return self.words[base](self.rnd)
        if base == "money":
            amount = int(math.exp(rng.uniform(7, 14)))
            cur = self.pick(("$", "€", "£", "EUR ", "USD "))
            return f"{cur}{amount:,}" if rng.random() < 0.7 else f"{cur}{amount / 1000:.1f}k"
        if base == "pct":
            return f"{self.between(1, 99)}%"
        if base == "num":
            return str(int(math.exp(rng.uniform(0, 6))))
        if base in ("ticket", "chg", "po"):
            prefix = {"ticket": self.pick(("INC", "FIN", "OPS", "SEC")), "chg": "CHG"}
            return f"{prefix.get(base, 'PO')}-{self.between(1000, 99999)}"
        if base == "q":
            return str(self.between(1, 4))
        if base == "date":
            return f"{self.between(1, 28)} {MONTHS[self.between(1, 12)]}"
        if base == "hour":
            return str(self.between(8, 17))
        return str(self.between(1, 420))  # room, n

    def fill(self, template: str) -> str:
        return template.format(**{n: self._slot(n) for n in slot_names(template)})

    def _sentence_pool(self) -> list[str]:
        picker = Picker(TEMPLATES, 0.6)
        return [self.fill(picker(self.rnd)) for _ in range(SENTENCE_POOL)]

    # -- people --------------------------------------------------------------------

    def _population(self) -> list[Person]:
        domain_cum = [0.0]
        for d in DOMAINS:
            domain_cum.append(domain_cum[-1] + d[4])
        used: set[str] = set()
        people = []
        for _ in range(POPULATION):
            i = bisect.bisect_right(domain_cum, self.rnd() * domain_cum[-1]) - 1
            people.append(self._person(DOMAINS[min(i, len(DOMAINS) - 1)], used))
        return people

    def _person(
        self,
        dom: tuple[str, str, dict[str, int], tuple[int, int, int, int], int],
        used: set[str],
    ) -> Person:
        rng = self.rng
        domain, company, locales, clients, _ = dom
        locale = rng.choices(tuple(locales), weights=tuple(locales.values()))[0]
        k = self.below(len(FIRST[locale]))
        first = FIRST[locale][k]
        if rng.random() < 0.3 and locale in ("en", "de", "fr"):
            last = self._made_word(2).capitalize()
        else:
            j = self.below(len(LAST[locale]))
            last = LAST[locale][j]
        if locale in ("ja", "zh"):
            latin_first = FIRST_LATIN[locale][k]
            latin_last = LAST_LATIN[locale][LAST[locale].index(last)]
            name = f"{last} {first}" if locale == "ja" else f"{last}{first}"
        else:
            latin_first, latin_last = first, last
            name = f"{first} {last}"
        client = rng.choices((GMAIL, OUTLOOK, APPLE, PLAIN), weights=clients)[0]
        if client == OUTLOOK and locale in ("en", "de", "fr") and rng.random() < 0.4:
            name = f"{last}, {first}"
        addr = self._address(latin_first, latin_last, domain, used)
        charset, qmode = self._charset(locale, client)
        lang = locale if locale in ("de", "fr") else "en"
        tz = self.pick(TZ_BY_LOCALE[locale])
        title, team = self.pick(TITLES), self.pick(TEAMS)
        disclaimer = self.pick(DISCLAIMERS[2:] if lang != "en" else DISCLAIMERS[:2])
        sig_plain, sig_html = self._signature(
            client,
            name if "," not in name else f"{first} {last}",
            title,
            team,
            company,
            disclaimer.format(company=company),
        )
        return Person(
            name=name,
            first=first,
            addr=addr,
            header=display_header(name, addr, charset, qmode),
            locale=locale,
            lang=lang,
            client=client,
            charset=charset,
            qmode=qmode,
            tz=tz,
            hdr_tz=0 if client == OUTLOOK and rng.random() < 0.7 else tz,
            domain=domain,
            host=f"{self.pick(('exch', 'mail', 'smtp', 'mx'))}{self.between(1, 9):02d}.{domain}",
            sig_plain=sig_plain,
            sig_html=sig_html,
            quote_prefix=">" if client == PLAIN and rng.random() < 0.15 else "> ",
        )

    def _address(self, first: str, last: str, domain: str, used: set[str]) -> str:
        f, la = ascii_fold(first).replace(" ", ""), ascii_fold(last).replace(" ", "")
        style = self.below(4)
        local_part = (f"{f}.{la}", f"{f[0]}{la}", f"{f}_{la}", f"{f}.{la[0]}")[style]
        candidate, n = local_part, 1
        while f"{candidate}@{domain}" in used:
            n += 1
            candidate = f"{local_part}{n}"
        used.add(f"{candidate}@{domain}")
        return f"{candidate}@{domain}"

    def _charset(self, locale: str, client: int) -> tuple[str, str]:
        rng = self.rng
        if locale == "ja":
            return ("iso-2022-jp", "B") if rng.random() < 0.7 else ("utf-8", "B")
        if locale == "zh":
            return ("gb2312", "B") if rng.random() < 0.6 else ("utf-8", "B")
        if client == OUTLOOK:
            weights = (4, 3, 3) if locale != "en" else (4, 1, 5)
            charset = rng.choices(("windows-1252", "iso-8859-1", "utf-8"), weights)[0]
            return charset, self.pick("QB")
        if client == PLAIN and locale != "en" and rng.random() < 0.5:
            return "iso-8859-1", "Q"
        return "utf-8", "B" if client == GMAIL else "Q"

    def _signature(
        self, client: int, name: str, title: str, team: str, company: str, disclaimer: str
    ) -> tuple[str, str]:
        phone = f"+1 555 01{self.between(10, 99)} {self.between(1000, 9999)}"
        if client == OUTLOOK:
            plain = f"{name}\n{title} | {team}\n{company}\nT {phone}\n\n{disclaimer}"
            html = (
                f'<p class="MsoNormal"><b>{html_escape(name)}</b><br>{html_escape(title)} | '
                f"{html_escape(team)}<br>{html_escape(company)}<br>T {phone}</p>"
                f'<p class="MsoNormal"><span style="font-size:7.5pt;color:gray">'
                f"{html_escape(disclaimer)}</span></p>"
            )
            return plain, html
        if client == PLAIN:
            return f"-- \n{name}\n{title}, {team}\n{company}", ""
        if client == APPLE:
            return "Sent from my iPhone" if self.rnd() < 0.4 else name, ""
        return f"{name} | {title}", f'<div dir="ltr">{html_escape(name)} | {title}</div>'

    # -- threads -------------------------------------------------------------------

    def new_thread(self, remaining: int) -> Thread:
        rng = self.rng
        size = bisect.bisect_left(self.sizes, self.rnd() * self.sizes[-1]) + 1
        group = self.below(POPULATION // GROUP_SIZE) * GROUP_SIZE
        n = min(25, max(3, int(rng.lognormvariate(math.log(7.0), 0.55)))) + 1
        participants: list[int] = []
        while len(participants) < n:
            local_pick = self.rnd() < 0.7
            p = group + self.below(GROUP_SIZE) if local_pick else self.below(POPULATION)
            if p not in participants:
                participants.append(p)
        root = self.people[participants[0]]
        self.threads_started += 1
        base = self._subject(root.locale)
        return Thread(
            base=base,
            participants=participants,
            size=min(size, remaining),
            guid=rng.randbytes(16),
            incident=base.startswith("[") or "outage" in base.lower(),
        )

    def _subject(self, locale: str) -> str:
        rng = self.rng
        if locale in SUBJECTS_LOCAL and rng.random() < 0.5:
            return self.fill(self.pick(SUBJECTS_LOCAL[locale]))
        return self.fill(self.pick(SUBJECTS))

    def pick_parent(self, th: Thread, i: int) -> int:
        if i == 1 or self.rnd() < 0.65:
            return i - 1
        return max(0, i - 1 - int(self.rng.expovariate(0.5)))

    def pick_sender(self, th: Thread, parent: Msg | None) -> int:
        if parent is None:
            return th.participants[0]
        parts = th.participants
        for _ in range(4):
            k = min(len(parts) - 1, int(self.rng.expovariate(0.35)))
            if parts[k] != parent.sender:
                return parts[k]
        return parts[0] if parts[0] != parent.sender else parts[1]

    def churn(self, th: Thread) -> None:
        """Occasionally someone is added to (or dropped from) the reply-all list."""
        r = self.rnd()
        parts = th.participants
        if r < 0.05 and len(parts) < 26:
            p = self.below(POPULATION)
            if p not in parts:
                parts.append(p)
        elif r < 0.08 and len(parts) > 5:
            parts.pop(self.rng.randrange(2, len(parts)))

    def recipients(
        self, th: Thread, sender: int, parent: Msg | None
    ) -> tuple[list[int], list[int]]:
        others = [p for p in th.participants if p != sender]
        if parent is None:
            k = min(len(others), 1 + int(self.rng.expovariate(0.8)))
            return others[:k], others[k:]
        to = [parent.sender] if parent.sender != sender else []
        to += [p for p in parent.to if p != sender and p not in to and self.rnd() < 0.4]
        return to, [p for p in others if p not in to]

    # -- subjects and headers --------------------------------------------------------

    def reply_subject(self, person: Person, parent: Msg, forward: bool) -> str:
        prev = parent.subject
        if person.client == OUTLOOK:
            labels = OUTLOOK_LABELS[person.lang]
            prefix = labels[6] if forward else labels[5]
        else:
            prefix = "Fwd: " if forward else "Re: "
        if prev.startswith(prefix):
            return prev
        if prev.count(": ") >= 2:  # keep stacked prefixes bounded ("Re: AW: RE: ...")
            prev = prev.split(": ", 1)[1]
        return prefix + prev

    def header_subject(self, th: Thread, subject: str, person: Person) -> str:
        key = (subject, person.charset, person.qmode)
        cached = th.encoded.get(key)
        if cached is None:
            charset = person.charset
            if not can_encode(subject, charset):
                charset = "utf-8"
            cached = encoded_words(subject, charset, person.qmode)
            th.encoded[key] = cached
        return cached

    def message_id(self, person: Person, t: int) -> str:
        bits = self.rng.getrandbits(128)
        if person.client == OUTLOOK:
            return f"<{bits:032X}@{person.host.upper()}>"
        if person.client == GMAIL:
            extra = self.rng.getrandbits(16).to_bytes(2, "big")
            token = base64.b64encode(bits.to_bytes(16, "big") + extra, b"+_").decode()
            return f"<CA{token}@mail.gmail.example>"
        if person.client == APPLE:
            h = f"{bits:032X}"
            return f"<{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}@{person.domain}>"
        return f"<{bits:032x}.{t}@{person.domain}>"

    def thread_index(self, th: Thread, parent: Msg | None, t: int) -> bytes:
        if parent is None:
            return (filetime(t) >> 16).to_bytes(6, "big") + th.guid
        root_ft = int.from_bytes(parent.tindex[:6], "big") << 16
        delta = max(0, filetime(t) - root_ft) >> 18
        block = ((delta & 0x7FFFFFFF) << 8) | self.rng.getrandbits(8)
        return parent.tindex + block.to_bytes(5, "big")

    # -- bodies --------------------------------------------------------------------

    def paragraphs(self, th: Thread, person: Person) -> list[str]:
        rng = self.rng
        if self.rnd() < 0.12:
            return [self.pick(ACKS)]
        n = min(60, max(1, int(rng.lognormvariate(1.35, 0.8))))
        sentences = rng.choices(self.pool, k=n)
        for _ in range(self.below(3)):
            sentences.insert(self.below(n + 1), self.fill(self.pick(FACTS)))
        if person.locale in CJK_LINES:
            sentences.insert(0, self.pick(CJK_LINES[person.locale]))
        paras: list[str] = []
        i = 0
        while i < len(sentences):
            k = 1 + int(rng.expovariate(0.7))
            paras.append(" ".join(sentences[i : i + k]))
            i += k
        if person.client in (OUTLOOK, APPLE) and person.charset != "iso-8859-1":
            paras = [p.replace("'", "\u2019") for p in paras]
        if self.rnd() < (LOG_RATE * 4 if th.incident else LOG_RATE):
            paras.append(self.log_excerpt())
        return paras

    def log_excerpt(self) -> str:
        rng = self.rng
        lines = []
        t = self.clock - self.below(3600)
        for _ in range(min(400, int(rng.paretovariate(1.2) * 6))):
            t += self.below(5)
            g = time.gmtime(t)
            lines.append(
                self.pick(LOG_LINES).format(
                    ts=f"{g.tm_year}-{g.tm_mon:02d}-{g.tm_mday:02d}T{g.tm_hour:02d}:"
                    f"{g.tm_min:02d}:{g.tm_sec:02d}.{self.below(1000):03d}Z",
                    svc=self.pick(SERVICES),
                    svc2=self.pick(SERVICES),
                    n=self.below(12),
                    ms=rng.randrange(30, 30000),
                    a=self.between(1, 5),
                    batch=self.below(10**6),
                    n2=self.below(10**5),
                )
            )
        return "\n".join(lines)

    def compose(self, th: Thread, person: Person, parent: Msg | None, paras: list[str]) -> str:
        """New text of a message: greeting, paragraphs, closing, signature."""
        rng = self.rng
        first = self.people[parent.sender].first if parent else "all"
        greeting = self.pick(GREETING[person.locale]).format(first=first)
        body = (
            paras if person.client != PLAIN else [p if p[:4].isdigit() else wrap(p) for p in paras]
        )
        if len(paras) == 1 and paras[0] in ACKS and rng.random() < 0.6:
            text = paras[0]
        else:
            text = greeting + "\n\n" + "\n\n".join(body)
        closing = self.pick(CLOSING[person.locale])
        return f"{text}\n\n{closing}\n{person.first}\n\n{person.sig_plain}\n"

    def html_of(self, person: Person, new_plain: str) -> str:
        parts = new_plain.rstrip("\n").split("\n\n")
        if person.client == OUTLOOK:
            parts = parts[: -1 - person.sig_plain.count("\n\n")]
            body = "".join(
                f'<p class="MsoNormal">{html_escape(p).replace(chr(10), "<br>")}'
                '<o:p></o:p></p>\n<p class="MsoNormal"><o:p>&nbsp;</o:p></p>\n'
                for p in parts
            )
            return body + person.sig_html + "\n"
        body = "".join(
            f"<div>{html_escape(p).replace(chr(10), '<br>')}</div><div><br></div>\n" for p in parts
        )
        return f'<div dir="ltr">\n{body}</div>\n'

    def outlook_history(self, person: Person, parent: Msg) -> str:
        """Outlook's "From: / Sent: / To: / Subject:" block above the quoted text."""
        src = self.people[parent.sender]
        lab = OUTLOOK_LABELS[person.lang]
        lines = [
            self.pick(OUTLOOK_SEPARATORS[person.lang]),
            f"{lab[0]}: {src.name} <{src.addr}>",
            f"{lab[1]}: {outlook_date(parent.t, person.tz, person.lang)}",
            f"{lab[2]}: " + "; ".join(self.people[p].name for p in parent.to),
        ]
        if parent.cc:
            lines.append(f"{lab[3]}: " + "; ".join(self.people[p].name for p in parent.cc))
        lines.append(f"{lab[4]}: {parent.subject}")
        return "\n".join(lines) + "\n\n"

    def plain_text(self, person: Person, parent: Msg, pidx: int, new_plain: str) -> Text:
        """Text body of a reply, with the history in the replying client's style."""
        src = self.people[parent.sender]
        whole = parent.plain.size < QUOTE_CAP
        history = parent.full_plain if whole else parent.new_plain
        if person.client == OUTLOOK:
            head = new_plain + "\n" + self.outlook_history(person, parent)
            return Text(head, pidx, whole, "", len(head) + len(history))
        if person.client == GMAIL:
            attr = f"{gmail_attr(parent.t, person.tz)}, {src.name} <{src.addr}> wrote:"
            head = f"{new_plain}\n{attr}\n\n{quote_lines(history.rstrip())}\n"
        elif person.client == APPLE:
            attr = f"{apple_attr(parent.t, person.tz)}, {src.name} <{src.addr}> wrote:"
            head = f"{new_plain}\n{quote_lines(attr + chr(10) + chr(10) + history.rstrip())}\n"
        else:
            head = self.plain_reply(person, parent, new_plain)
        return Text(head, size=len(head))

    def plain_reply(self, person: Person, parent: Msg, new_plain: str) -> str:
        """Plain-text clients trim quotes, and sometimes answer inline."""
        src = self.people[parent.sender]
        attr = f"{plain_attr(parent.t, person.tz)}, {src.name} wrote:"
        prefix = person.quote_prefix
        if len(parent.paras) < 2 or self.rnd() < 0.5:
            keep = parent.paras[: 1 + int(self.rng.expovariate(0.8))]
            quoted = quote_lines("\n\n".join(wrap(p) for p in keep), prefix)
            return f"{new_plain}\n{attr}\n{quoted}\n"
        out = [attr]
        for para in parent.paras[:3]:
            out.append(quote_lines(wrap(para), prefix))
            out.append(wrap(self.pick(self.pool)))
        return "\n\n".join(out) + "\n\n" + new_plain.split("\n\n", 1)[-1]

    def html_text(self, th: Thread, person: Person, parent: Msg, pidx: int, new_html: str) -> Text:
        """HTML body of a reply: own part, quote header, parent's HTML nested verbatim."""
        src = self.people[parent.sender]
        whole = parent.html is not None and parent.html.size < QUOTE_CAP * 2
        size = parent.html.size if whole and parent.html else len(self.new_html(th, pidx))
        who = f"{html_escape(src.name)} &lt;{src.addr}&gt;"
        if person.client == OUTLOOK:
            lab = OUTLOOK_LABELS[person.lang]
            to = html_escape("; ".join(self.people[p].name for p in parent.to))
            cc = html_escape("; ".join(self.people[p].name for p in parent.cc))
            head = (
                '<div style="border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm">'
                f'<p class="MsoNormal"><b>{lab[0]}:</b> {who}<br><b>{lab[1]}:</b> '
                f"{outlook_date(parent.t, person.tz, person.lang)}<br><b>{lab[2]}:</b> {to}<br>"
                + (f"<b>{lab[3]}:</b> {cc}<br>" if cc else "")
                + f"<b>{lab[4]}:</b> {html_escape(parent.subject)}</p></div>\n"
            )
            tail = ""
        elif person.client == APPLE:
            head = (
                f'<blockquote type="cite"><div>{apple_attr(parent.t, person.tz)}, {who} '
                'wrote:</div><br class="Apple-interchange-newline">\n'
            )
            tail = "</blockquote>\n"
        else:
            head = (
                f'<div class="gmail_quote"><div dir="ltr" class="gmail_attr">'
                f"{gmail_attr(parent.t, person.tz)}, {who} wrote:<br></div>"
                '<blockquote class="gmail_quote" style="margin:0px 0px 0px 0.8ex;border-left:1px'
                ' solid rgb(204,204,204);padding-left:1ex">\n'
            )
            tail = "</blockquote></div>\n"
        head = new_html + head
        return Text(head, pidx, whole, tail, len(head) + size + len(tail))

    def new_html(self, th: Thread, i: int) -> str:
        """Own HTML of message ``i`` (made on demand for plain-text senders)."""
        msg = th.msgs[i]
        if not msg.new_html:
            msg.new_html = self.html_of(self.people[msg.sender], msg.new_plain)
        return msg.new_html

    # -- encoded text (cached per thread) --------------------------------------------

    def encoded(self, th: Thread, i: int, kind: str, whole: bool, charset: str) -> bytes | None:
        """Quoted-printable bytes of a message's text; None if ``charset`` cannot hold it."""
        key = (i, kind, whole, charset)
        if key in th.qp:
            return th.qp[key]
        msg = th.msgs[i]
        text = msg.plain if kind == "plain" else msg.html
        if not whole or text is None:
            own = msg.new_plain if kind == "plain" else self.new_html(th, i)
            result = qp_encode(own, charset)
        else:
            pieces = [qp_encode(text.head, charset)]
            if text.src >= 0:
                src = th.msgs[text.src]
                src_whole = text.whole and (kind == "plain" or src.html is not None)
                pieces.append(self.encoded(th, text.src, kind, src_whole, charset))
            pieces.append(qp_encode(text.tail, charset))
            result = join_all(pieces)
        th.qp[key] = result
        return result

    def qp_body(self, th: Thread, i: int, kind: str, charset: str) -> tuple[bytes, str]:
        data = self.encoded(th, i, kind, True, charset)
        if data is None:  # real clients switch to UTF-8 when the text needs it
            charset = "utf-8"
            data = self.encoded(th, i, kind, True, charset)
        assert data is not None
        return data, charset

    # -- MIME ----------------------------------------------------------------------

    def plain_part(self, th: Thread, i: int, person: Person) -> bytes:
        msg = th.msgs[i]
        charset = person.charset
        if not can_encode(msg.full_plain, charset):
            charset = "utf-8"
        cte = transfer_encoding(charset, msg.full_plain, person.client)
        if cte == "quoted-printable":
            payload, charset = self.qp_body(th, i, "plain", charset)
        elif cte == "base64":
            payload = base64.encodebytes(msg.full_plain.encode(charset))
        else:
            payload = msg.full_plain.encode(charset)
        flowed = "; format=flowed" if person.client == PLAIN else ""
        return mime_leaf(f'text/plain; charset="{charset}"{flowed}', cte, payload)

    def html_part(self, th: Thread, i: int, person: Person, cid: str) -> bytes:
        charset = person.charset if person.charset not in ("gb2312", "iso-2022-jp") else "utf-8"
        payload, charset = self.qp_body(th, i, "html", charset)
        if cid:  # signature logo: only this message's own part changes
            text = th.msgs[i].html
            assert text is not None
            own = text.head.replace("</p>", f'<img src="cid:{cid}" width="120"></p>', 1)
            old = qp_encode(text.head, charset) or b""
            payload = (qp_encode(own, charset) or b"") + payload[len(old) :]
        frame_head, frame_tail = html_frame_qp(person.client, charset, person.lang)
        return mime_leaf(
            f'text/html; charset="{charset}"',
            "quoted-printable",
            frame_head + payload + frame_tail,
        )

    def multipart(self, subtype: str, parts: list[bytes], extra: str = "") -> bytes:
        boundary = f"{self.rng.getrandbits(96):024x}"
        head = f'Content-Type: multipart/{subtype}; boundary="{boundary}"{extra}\n\n'
        sep = f"\n--{boundary}\n".encode("ascii")
        return (
            head.encode("ascii") + sep[1:] + sep.join(parts) + f"\n--{boundary}--\n".encode("ascii")
        )

    def binary_part(self, inline: bool) -> tuple[bytes, str]:
        rng = self.rng
        if inline:
            name = f"image{self.between(1, 9):03d}.png"
            cid = f"{name}@01D{rng.getrandbits(24):06X}.{rng.getrandbits(32):08X}"
        else:
            name, cid = self.fill(self.pick(ATTACH_NAMES)), ""
        size = min(120_000, int(rng.paretovariate(1.3) * 2500))
        if name.endswith(".png"):
            data = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + rng.randbytes(size)
            ctype = "image/png"
        else:
            data = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"
            data += rng.randbytes(size) + b"\n%%EOF\n"
            ctype = "application/pdf"
        head = f'Content-Type: {ctype}; name="{name if name.isascii() else "attachment"}"\n'
        disposition = "inline" if inline else "attachment"
        head += f"Content-Disposition: {disposition}; {filename_param(name)}\n"
        if inline:
            head += f"Content-ID: <{cid}>\n"
        head += "Content-Transfer-Encoding: base64\n\n"
        return head.encode("ascii") + base64.encodebytes(data), cid

    def body_parts(self, th: Thread, i: int, person: Person, with_html: bool) -> bytes:
        """MIME structure (starting with its own Content-* headers) for one message."""
        if not with_html:
            root = self.plain_part(th, i, person)
        else:
            if person.client == OUTLOOK and self.rnd() < INLINE_IMAGE_RATE:
                img, cid = self.binary_part(inline=True)
                html = self.html_part(th, i, person, cid)
                html = self.multipart("related", [html, img], '; type="text/html"')
            else:
                html = self.html_part(th, i, person, "")
            if person.client == OUTLOOK and self.rnd() < 0.25:
                root = html
            else:
                root = self.multipart("alternative", [self.plain_part(th, i, person), html])
        if self.rnd() < ATTACH_RATE:
            attachments = [self.binary_part(inline=False)[0]]
            if self.rnd() < 0.2:
                attachments.append(self.binary_part(inline=False)[0])
            root = self.multipart("mixed", [root, *attachments])
        return root

    # -- one message ---------------------------------------------------------------

    def make_message(self, th: Thread, i: int, t: int, parent_idx: int | None) -> Msg:
        """Create message ``i`` of a thread (metadata and text, not yet rendered)."""
        parent = None
        pidx = -1
        if i > 0:
            pidx = parent_idx if parent_idx is not None else self.pick_parent(th, i)
            parent = th.msgs[pidx]
            self.churn(th)
        sender = self.pick_sender(th, parent)
        person = self.people[sender]
        to, cc = self.recipients(th, sender, parent)
        refs: tuple[str, ...] = ()
        if parent is None:
            subject = th.base
        else:
            subject = self.reply_subject(person, parent, forward=self.rnd() < 0.02)
            refs = (*parent.refs, parent.mid)
        paras = self.paragraphs(th, person)
        new_plain = self.compose(th, person, parent, paras)
        new_html = self.html_of(person, new_plain) if person.client != PLAIN else ""
        plain = Text(new_plain, size=len(new_plain))
        html = Text(new_html, size=len(new_html)) if new_html else None
        full_plain = new_plain
        if parent is not None:
            plain = self.plain_text(person, parent, pidx, new_plain)
            if plain.src >= 0:
                history = parent.full_plain if plain.whole else parent.new_plain
                full_plain = plain.head + history
            else:
                full_plain = plain.head
            if new_html:
                html = self.html_text(th, person, parent, pidx, new_html)
        return Msg(
            mid=self.message_id(person, t),
            sender=sender,
            t=t,
            subject=subject,
            refs=refs,
            to=to,
            cc=cc,
            paras=paras,
            new_plain=new_plain,
            full_plain=full_plain,
            plain=plain,
            new_html=new_html,
            html=html,
            tindex=self.thread_index(th, parent, t),
        )

    def render(self, th: Thread, i: int) -> bytes:
        """Serialise one message, including its mbox ``From `` line and mboxrd quoting."""
        msg = th.msgs[i]
        person = self.people[msg.sender]
        people = self.people
        lines = [
            f"Received: from {person.host} ([192.0.2.{msg.sender % 250 + 1}])\n"
            f"\tby mx.example.com with ESMTPS id {msg.mid[1:13].lower()};\n"
            f"\t{rfc_date(msg.t + 2, 0)}",
            f"From: {person.header}",
            fold_addresses("To", [people[p].header for p in msg.to] or [person.header]),
        ]
        if msg.cc:
            lines.append(fold_addresses("Cc", [people[p].header for p in msg.cc]))
        lines.append(f"Subject: {self.header_subject(th, msg.subject, person)}")
        lines.append(f"Date: {rfc_date(msg.t, person.hdr_tz)}")
        lines.append(f"Message-ID: {msg.mid}")
        lines.extend(self.threading_headers(msg, person))
        if person.client == OUTLOOK:
            lines.append(f"Thread-Topic: {self.header_subject(th, th.base, person)}")
            lines.append(f"Thread-Index: {base64.b64encode(msg.tindex).decode('ascii')}")
            lang = {"de": "de-DE", "fr": "fr-FR"}.get(person.lang, "en-US")
            accept = lang if lang == "en-US" else f"{lang}, en-US"
            lines.append(f"Accept-Language: {accept}\nContent-Language: {lang}")
        agent = self.agent_header(person)
        if agent:
            lines.append(agent)
        if self.list_id:
            lines.append(f"List-Id: {self.list_id}")
        lines.append("MIME-Version: 1.0")
        with_html = msg.html is not None and not (person.client == APPLE and self.rnd() < 0.4)
        raw = ("\n".join(lines) + "\n").encode("ascii") + self.body_parts(th, i, person, with_html)
        envelope = f"From {person.addr} {asctime(msg.t)}\n".encode("ascii")
        return envelope + mboxrd_escape(raw) + b"\n"

    def threading_headers(self, msg: Msg, person: Person) -> list[str]:
        if not msg.refs:
            return []
        r = self.rnd()
        if r < NO_REFS_RATE:
            return []
        irt = f"In-Reply-To: {msg.refs[-1]}"
        if r < NO_REFS_RATE + IRT_ONLY_RATE:
            return [irt]
        refs = msg.refs
        if person.client == OUTLOOK and len(refs) > 3 and self.rnd() < 0.4:
            refs = (refs[0], *refs[-2:])
        return ["References: " + "\n ".join(refs), irt]

    def agent_header(self, person: Person) -> str:
        if person.client == APPLE:
            return "X-Mailer: Apple Mail (2.3774.600.62)"
        if person.client == PLAIN:
            return "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Thunderbird/115.9.0"
        if person.client == OUTLOOK:
            return "X-MS-Has-Attach:\nX-MS-TNEF-Correlator:"
        return ""

    # -- stream --------------------------------------------------------------------

    def tick(self) -> int:
        """Advance the clock by a working-hours inter-arrival gap and return it."""
        t = self.clock + 1 + int(self.rng.expovariate(1.0 / MEAN_GAP_S))
        hour = (t // 3600) % 24
        weekday = (t // 86400 + 3) % 7  # 1970-01-01 was a Thursday
        if (hour >= 19 or hour < 7 or weekday >= 5) and self.rnd() < 0.93:
            day = t // 86400 + (1 if hour >= 7 else 0)
            while (day + 3) % 7 >= 5:
                day += 1
            t = day * 86400 + 7 * 3600 + self.below(5400)
        self.clock = max(t, self.clock)
        return self.clock

    def stream(self, total: int, out: BinaryIO) -> int:
        """Write ``total`` messages; return the number of threads."""
        active: list[Thread] = []
        allocated = emitted = 0
        while emitted < total:
            while len(active) < CONCURRENT_THREADS and allocated < total:
                th = self.new_thread(total - allocated)
                allocated += th.size
                active.append(th)
            k = self.below(len(active))
            th = active[k]
            emitted += self.step(th, out)
            if len(th.msgs) >= th.size:
                active[k] = active[-1]
                active.pop()
        return self.threads_started

    def step(self, th: Thread, out: BinaryIO) -> int:
        """Emit the next message of a thread, sometimes a reply together with its parent."""
        i = len(th.msgs)
        msg = self.make_message(th, i, self.tick(), None)
        th.msgs.append(msg)
        if i + 1 < th.size and self.rnd() < SWAP_RATE:
            child = self.make_message(th, i + 1, self.tick(), i)
            th.msgs.append(child)
            self.write(out, self.render(th, i + 1))
            self.write(out, self.render(th, i))
            self.swapped += 1
            return 2
        self.write(out, self.render(th, i))
        return 1

    def write(self, out: BinaryIO, data: bytes) -> None:
        out.write(data)
        self.bytes_written += len(data)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--messages", type=int, required=True, help="number of messages")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--out", type=Path, required=True, help="mbox file to write")
    parser.add_argument(
        "--list-id",
        nargs="?",
        const="Example Corp all-hands <all.lists.example.com>",
        default=None,
        help="add a List-Id header (optional value, default a fictional list)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.messages < 0:
        print("--messages must be >= 0", file=sys.stderr)
        return 2
    started, cpu_started = time.perf_counter(), time.process_time()
    corpus = Corpus(args.seed, args.list_id)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("wb", buffering=1 << 20) as out:
        threads = corpus.stream(args.messages, out)
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    rate = args.messages / elapsed if elapsed > 0 else 0.0
    print(
        f"wrote {args.messages} messages in {threads} threads "
        f"({corpus.bytes_written / 1e6:.1f} MB, {corpus.swapped} replies before their parent) "
        f"to {args.out} in {elapsed:.1f} s, {cpu:.1f} s CPU ({rate:,.0f} msg/s, seed {args.seed})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
