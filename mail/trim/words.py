"""The phrases reply trimming looks for, per language: attributions, header labels, footers.

Data only, kept apart from the logic in the other modules of mail/trim/ so that adding a language
is an edit here. One line a language, in this order where a language has the
phrase: English, German, French, Spanish, Italian, Dutch, Portuguese, Swedish,
Danish, Norwegian, Polish, Czech, Finnish, Turkish, Russian, Japanese, Chinese
(simplified, traditional), Korean. The phrases are what the clients of each
language write (Outlook, Gmail, Apple Mail, Thunderbird and the phones);
matching ignores case. Alternatives are separated by "|".
"""

# "---------- Forwarded message ---------" and its translations.
FORWARD_RULES = """
forwarded message | forwarded e-mail | forwarded email
weitergeleitete nachricht | weitergeleitete e-mail
message transféré | message transfere
mensaje reenviado
messaggio inoltrato
doorgestuurd bericht
mensagem encaminhada | mensagem reencaminhada
vidarebefordrat meddelande
videresendt meddelelse
videresendt melding
przekazana wiadomość | wiadomość przekazana
přeposlaná zpráva
välitetty viesti
iletilen mesaj
пересылаемое сообщение
転送メッセージ | 転送されたメッセージ
转发的邮件 | 已转发邮件
轉寄的郵件
전달된 메시지
"""
# "Begin forwarded message:" (Apple Mail) and its translations.
FORWARD_INTROS = """
begin forwarded message
anfang der weitergeleiteten nachricht
début du message réexpédié | debut du message reexpedie | début du message transféré
inicio del mensaje reenviado | comienzo del mensaje reenviado
inizio messaggio inoltrato
begin doorgestuurd bericht
início da mensagem reencaminhada | início da mensagem encaminhada
vidarebefordrat brev
videresendt brev
początek przekazywanej wiadomości
転送されたメッセージ
"""
# "-----Original Message-----" (Outlook, Yahoo, AOL; Android's "Reply message").
ORIGINAL_RULES = """
original message | reply message
ursprüngliche nachricht | originalnachricht | original-nachricht
message d'origine | message original
mensaje original
messaggio originale
oorspronkelijk bericht | origineel bericht
mensagem original
originalmeddelande | ursprungligt meddelande
oprindelig meddelelse
opprinnelig melding
oryginalna wiadomość | wiadomość oryginalna
původní zpráva
alkuperäinen viesti
orijinal mesaj
исходное сообщение
元のメッセージ
原始邮件
原始郵件
원본 메시지
"""
# The fields of a header block over a quoted or forwarded message, by what they name.
FROM_FIELDS = """
from | von | de | da | van | från | fra | od | odesílatel | lähettäjä | kimden | от
差出人 | 送信者 | 发件人 | 發件人 | 寄件者 | 寄件人 | 보낸 사람 | 보낸사람 | feladó
"""
DATE_FIELDS = """
sent | date
gesendet | datum
envoyé | envoyé le | envoye | date d'envoi | message du
enviado | enviado el | fecha
inviato | data
verzonden | verstuurd
enviada | enviado em | enviada em
skickat | sendt | wysłano | wysłane | data wysłania | odesláno | lähetetty | päivämäärä
gönderildi | tarih | отправлено | дата
送信日時 | 日付 | 日時 | 发送时间 | 發送時間 | 日期 | 时间 | 時間 | 寄件日期 | 날짜 | 보낸 날짜
"""
TO_FIELDS = """
to | an | à | a | para | aan | till | til | do | komu | vastaanottaja | kime | кому
宛先 | 收件人 | 收件者 | 받는 사람 | 받는사람
"""
CC_FIELDS = """
cc | bcc | reply-to | kopie | antwort an | copie | copie à | répondre à | responder a
kopia | kopi | dw | kopio | bilgi | копия | 抄送 | 副本 | 참조
"""
SUBJECT_FIELDS = """
subject | betreff | objet | sujet | asunto | oggetto | onderwerp | assunto | ämne | emne
temat | předmět | aihe | konu | тема | 件名 | 主题 | 主旨 | 제목
"""
# Verbs of attribution lines ("On <date>, <name> wrote:"); Vietnamese and Hungarian too.
VERB_TABLE = """
wrote | writes | has written | sent
schrieb | schreibt
a écrit | a ecrit | écrit
escribió | escribio | ha escrito
ha scritto | scrisse
schreef | geschreven
escreveu
skrev | skriver
napisał | napisała | pisze
napsal | napsala | napísal
kirjoitti | yazdı | написал | написала | пишет
írta | a scris | έγραψε | đã viết
"""
# CJK verbs are glued to the words around them, where "\b" does not work.
CJK_VERB_TABLE = "写道 | 寫道 | のメッセージ | 작성"
# Words an attribution starts with ("On ...", "Am ...", "Le ...", "W dniu ...").
INTRO_TABLE = """
on | quoting | excerpts from
am | zitat von
le
el | citando
il
op
em
den | på
w dniu | dnia
dne | dňa
在
"""
# Closings before a name ("Regards,\nAna"); "grü(ß|ss)e" in both spellings.
VALEDICTION_TABLE = """
thanks | thank you | thx | many thanks | thanks a lot | thanks again | cheers | regards
best regards | kind regards | warm regards | best wishes | best | all the best | br
sincerely | yours sincerely | yours truly | yours
mit freundlichen grüßen | mit freundlichen grüssen | freundliche grüße | freundliche grüsse
viele grüße | viele grüsse | beste grüße | beste grüsse | liebe grüße | liebe grüsse
grüße | grüsse | gruß | gruss | lg | mfg | danke
cordialement | bien cordialement | bien à vous | salutations | merci
saludos | un saludo | saludos cordiales | atentamente | gracias
cordiali saluti | distinti saluti | saluti | grazie
met vriendelijke groet | met vriendelijke groeten | vriendelijke groeten | groeten
atenciosamente | abraços | obrigado | obrigada
med vänliga hälsningar | vänliga hälsningar | hälsningar | mvh
med venlig hilsen | venlig hilsen | vennlig hilsen | hilsen
pozdrawiam | z poważaniem
"""
# Words of a confidentiality disclaimer, and of whom it addresses.
CONFIDENTIAL_TABLE = """
confiden | privileg | disclaim
vertraulich | riservat | vertrouwelijk | konfidentiell | fortrolig | poufn
機密 | 保密 | 免责 | 免責
"""
# Stems that cover the words above, for a quick test with `in` ("fiden" covers
# confidential, confidentiel, confidencial, riservatezza has its own, konfidentiell).
DISCLAIMER_STEMS = ("fiden", "privileg", "disclaim", "vertrau", "vertrouw", "riservat")
DISCLAIMER_STEMS_MORE = ("fortrolig", "poufn", "機密", "保密", "免责", "免責")
ADDRESSEE_TABLE = """
recipient | addressee | intended | unauthorized | unauthorised | prohibited
empfänger | destinat | adressat | ontvanger | geadresseerde | mottagare | modtager | adresat
宛先 | 收件人 | 收件者
"""
DISCLAIMER_TITLES = """
disclaimer | confidentiality notice | legal notice
haftungsausschluss
avis de confidentialité
aviso legal
avviso di riservatezza
免责声明 | 免責聲明
"""
# Words of a mailing list's footer ("To unsubscribe ...", Mailman's "listinfo").
LIST_FOOTER_WORDS = "mailing list | listinfo | unsubscribe | abbestell | désinscri | baja"
