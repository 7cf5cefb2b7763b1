"""Turning the bytes of a text file into text, and saying which encoding they were in."""

from __future__ import annotations

import codecs
import re

from charset_normalizer import from_bytes

from app.datasets.ingest.schema import IngestError

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le", "UTF-32 LE with BOM"),
    (codecs.BOM_UTF32_BE, "utf-32-be", "UTF-32 BE with BOM"),
    (codecs.BOM_UTF8, "utf-8", "UTF-8 with BOM"),
    (codecs.BOM_UTF16_LE, "utf-16-le", "UTF-16 LE"),
    (codecs.BOM_UTF16_BE, "utf-16-be", "UTF-16 BE"),
)
# Share of non-ASCII characters that must be CJK before we trust a GB18030 decoding: GB18030 maps almost
# any byte pair to some character, so a latin-1 file also "decodes"; real Chinese text is mostly CJK.
_MIN_CJK_SHARE = 0.6


def _is_cjk(ch: str) -> bool:
    o = ord(ch)
    return (
        0x4E00 <= o <= 0x9FFF  # CJK unified ideographs
        or 0x3400 <= o <= 0x4DBF  # extension A
        or 0x3000 <= o <= 0x303F  # CJK punctuation
        or 0xFF00 <= o <= 0xFFEF  # full-width forms
        or 0x2000 <= o <= 0x206F  # general punctuation (“ ” … —), common in Chinese text
    )


def _utf16_without_bom(data: bytes) -> str | None:
    """UTF-16 without a BOM shows as NUL bytes on one side of mostly-ASCII text."""
    sample = data[:4096]
    half = len(sample) // 2
    if half < 2:
        return None
    even_nul = sample[0::2].count(0) / half
    odd_nul = sample[1::2].count(0) / half
    if odd_nul > 0.3 and even_nul < 0.05:
        return "utf-16-le"
    if even_nul > 0.3 and odd_nul < 0.05:
        return "utf-16-be"
    return None


# What a Western European text holds besides letters: typographic quotes, dashes, currency, degrees...
_WESTERN_SIGNS = set("’‘“”„–—…€£¥°«»·©®™§¿¡ ×÷ªº¹²³½¼¾")
_NON_ASCII_RUN = re.compile(r"[^\x00-\x7f]+")


def _plausible_western(text: str) -> bool:
    """Text decoded as CP1252/Latin-1 that reads like a Western language: few non-ASCII characters, nearly
    all letters (é, ß, ñ) or common signs, standing alone inside words. Chinese, Japanese or Cyrillic bytes
    decoded this way give symbol soup (¤, ±, ³) or long runs of accented letters instead."""
    non_ascii = [ch for ch in text if ord(ch) > 127]
    if not non_ascii:
        return True
    letters = sum(ch.isalpha() for ch in text)
    if len(non_ascii) > 0.5 * max(1, letters):
        return False
    usual = sum(1 for ch in non_ascii if (ch.isalpha() and ord(ch) < 0x250) or ch in _WESTERN_SIGNS)
    if usual < 0.95 * len(non_ascii):
        return False
    runs = _NON_ASCII_RUN.findall(text)
    return sum(len(run) >= 3 for run in runs) <= 0.05 * len(runs)


def _try(data: bytes, codec: str) -> str | None:
    try:
        return data.decode(codec)
    except UnicodeDecodeError:
        return None


def decode_text(data: bytes) -> tuple[str, str]:
    """Return (text, encoding label); raise IngestError for binary data or an undecodable file.

    Order: BOM, then strict UTF-8, UTF-16 without BOM, GB18030 (the superset of GB2312/GBK) when the
    result is mostly CJK, CP1252/Latin-1 when the result reads like a Western language, then
    charset-normalizer's best guess (Big5, Shift-JIS, ...).
    """
    for bom, codec, label in _BOMS:
        if data.startswith(bom):
            text = _try(data[len(bom) :], codec)
            if text is None:
                raise IngestError(f"the file starts with a {label} byte-order mark but is not valid {label}")
            return text, label
    utf16 = _utf16_without_bom(data)
    if utf16 is not None:
        text = _try(data, utf16)
        if text is not None:
            return text, utf16.upper().replace("-LE", " LE").replace("-BE", " BE")
    if b"\x00" in data:
        raise IngestError("the file is binary, not text (it contains NUL bytes)")
    text = _try(data, "utf-8")
    if text is not None:
        return text, "UTF-8"
    text = _try(data, "gb18030")
    if text is not None:
        non_ascii = [ch for ch in text if ord(ch) > 127]
        # GB18030 maps byte pairs GBK leaves unassigned to the private use area: real GBK text has none,
        # Big5 or Shift-JIS read as GB18030 usually shows some.
        private = any(0xE000 <= ord(ch) <= 0xF8FF for ch in non_ascii)
        if non_ascii and not private and sum(map(_is_cjk, non_ascii)) / len(non_ascii) >= _MIN_CJK_SHARE:
            label = "GBK" if _try(data, "gbk") is not None else "GB18030"
            return text, label
    # Western European files (Excel's "CSV" on Windows) before the statistical guess: charset-normalizer
    # once read a Latin-1 "café" as CP775 ("cafķ") and the dataset was stored garbled.
    for codec, label in (("cp1252", "CP1252"), ("latin-1", "ISO-8859-1")):
        text = _try(data, codec)
        if text is not None and _plausible_western(text):
            return text, label
    best = from_bytes(data[: 1 << 20]).best()
    if best is None or best.encoding is None:
        raise IngestError("the file is not text in an encoding we can read (UTF-8, GBK/GB18030, UTF-16)")
    text = _try(data, best.encoding)
    if text is None:
        raise IngestError(f"the file looks like {best.encoding} but does not decode as it; save it as UTF-8")
    return text, best.encoding.upper()
