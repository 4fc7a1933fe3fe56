#!/usr/bin/env python3
"""The independent parser of the differential MIME test (test/unit/mime-differential.test.ts):
Python's standard-library `email` with policy.default. Reads JSON lines {"id", "b64"} on stdin,
writes one JSON line per message: its subject, its From addresses and the text of every part a
reader is shown (text/plain and text/html leaves that are not attachments), in order.

Where Python's reading of the bytes is not the one the gateway documents, the oracle reads them
as documented (docs/testing.md, "Differential test"), and nothing else:
- text declared us-ascii, or with no charset, or an unknown label, is decoded with
  errors='replace' by Python (U+FFFD for every 8-bit byte); here it is UTF-8 when valid, else
  windows-1252 as WHATWG defines it (docs/message-mapping.md §7);
- iso-8859-1 / latin-1 are Latin-1 in Python, C1 controls for 0x80-0x9F; here, as in every
  browser and mail client, those bytes are windows-1252 characters (the WHATWG encoding of those
  labels), and C1 code points in decoded text are read the same way;
- in text labelled UTF-8, a byte that is not part of valid UTF-8 is read as its windows-1252
  character (Python: U+FFFD);
- a damaged base64 body (cut mid-quantum by truncation, a delimiter line merged into it) is
  shown undecoded by Python when its padding is wrong; here it is decoded as RFC 2045 §6.8 reads
  base64: characters outside the alphabet ignored, the first "=" ends the data, and a last
  incomplete quantum dropped.
"""
import base64
import codecs
import json
import sys
from email import message_from_bytes, policy

ASCII_LABELS = {'', 'us-ascii', 'ascii', 'us', 'ansi_x3.4-1968', 'iso646-us', 'iso-ir-6', 'cp367', 'ibm367',
                'csascii', '7bit', '8bit'}
LATIN1_LABELS = {'iso-8859-1', 'iso8859-1', 'latin1', 'latin-1', 'l1', 'iso_8859-1', 'windows-1252', 'cp1252'}


UNDEFINED_CP1252 = (0x81, 0x8d, 0x8f, 0x90, 0x9d)


def cp1252_whatwg(data):
    # WHATWG windows-1252: the five bytes cp1252 leaves undefined decode to the C1 code point.
    return ''.join(bytes([b]).decode('cp1252') if 0x80 <= b <= 0x9f and b not in UNDEFINED_CP1252 else chr(b)
                   for b in data)


def c1_as_cp1252(text):
    out = []
    for ch in text:
        o = ord(ch)
        if 0x80 <= o <= 0x9f and o not in UNDEFINED_CP1252:
            out.append(bytes([o]).decode('cp1252'))
        else:
            out.append(ch)
    return ''.join(out)


def _cp1252_fallback(err):
    return cp1252_whatwg(err.object[err.start:err.end]), err.end


codecs.register_error('cp1252fallback', _cp1252_fallback)


def unlabelled(data):
    try:
        return data.decode('utf-8')
    except UnicodeDecodeError:
        return cp1252_whatwg(data)


B64_ALPHABET = set(b'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/')


def rfc2045_base64(text):
    raw = text.encode('ascii', 'surrogateescape') if isinstance(text, str) else text
    data = bytes(c for c in raw.split(b'=')[0] if c in B64_ALPHABET)
    data = data[:len(data) - len(data) % 4] if len(data) % 4 == 1 else data
    return base64.b64decode(data + b'=' * (-len(data) % 4))


def text_of(part):
    if (part.get('content-transfer-encoding') or '').strip().lower() == 'base64':
        data = rfc2045_base64(part.get_payload(decode=False) or '')
    else:
        data = part.get_payload(decode=True) or b''
    label = (part.get_content_charset() or '').lower()
    if label in ASCII_LABELS:
        text = unlabelled(data)
    elif label in LATIN1_LABELS:
        text = cp1252_whatwg(data)
    elif label in ('utf-8', 'utf8'):
        text = data.decode('utf-8', errors='cp1252fallback')
    else:
        # What policy.default's get_content() does for text (decode with errors='replace'), on the
        # bytes decoded above.
        try:
            text = data.decode(label, errors='replace')
        except LookupError:
            text = unlabelled(data)
    return c1_as_cp1252(text)


def leaves(part, out):
    """The text leaves a reader is shown, in order; nothing under an attachment (an attached .eml)."""
    if (part.get_content_disposition() or '') == 'attachment':
        return out
    if part.is_multipart():
        for child in part.get_payload():
            leaves(child, out)
        return out
    ctype = part.get_content_type()
    if ctype.startswith('multipart/'):
        # A multipart whose boundary was never found: Python keeps its body as a string.
        out.append({'kind': 'plain', 'text': text_of(part)})
    elif ctype in ('text/plain', 'text/html'):
        out.append({'kind': 'html' if ctype == 'text/html' else 'plain', 'text': text_of(part)})
    return out


def header_text(msg, name):
    try:
        value = msg[name]
    except Exception:  # a header Python's policy cannot parse at all
        return None
    return None if value is None else str(value)


def main():
    for line in sys.stdin:
        req = json.loads(line)
        try:
            msg = message_from_bytes(base64.b64decode(req['b64']), policy=policy.default)
            subject = header_text(msg, 'subject')
            try:
                froms = [a.addr_spec for a in msg['from'].addresses] if msg['from'] is not None else []
            except Exception:
                froms = None
            res = {'id': req['id'], 'ok': True, 'subject': subject, 'from': froms, 'leaves': leaves(msg, [])}
        except Exception as e:  # Python failed on this message: the test counts it, it is not an oracle
            res = {'id': req['id'], 'ok': False, 'error': f'{type(e).__name__}: {e}'[:200]}
        sys.stdout.write(json.dumps(res) + '\n')
        sys.stdout.flush()


if __name__ == '__main__':
    main()
