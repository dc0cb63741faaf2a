"""Which characters can make a text change under NFKC: the tables behind a one-pass "is it already NFKC?" scan.

Why: NFKC through Python costs about a microsecond a text and Polars' own is slower still, yet on real
corpora it changes a few percent of texts. Unicode's quick check says a text is certainly NFKC when every
character's NFKC_Quick_Check is "Yes" and combining marks are in canonical order. So a text with none of
the characters below, and no two combining marks side by side (a conservative reading of the order
condition), is NFKC as it stands; only the texts a regex scan flags need the exact normalisation.

Python's unicodedata has no quick-check property, so the tables are derived from it: a character is
`unsafe` when NFKC maps it to something else (quick check "No") or when it can compose with the character
before it (quick check "Maybe": the second half of a primary composite, and the Hangul vowel and trailing
jamo); `marks` are the characters with a non-zero canonical combining class. They are stored for the
Unicode version below and rebuilt (a third of a second, once per process) under any other.
"""

from __future__ import annotations

import functools
import sys
import unicodedata

UNICODE_VERSION = "14.0.0"

# Code point ranges (hex, inclusive), as `build_tables` derives them for UNICODE_VERSION.
_UNSAFE = (
    "A0 A8 AA AF B2-B5 B8-BA BC-BE 132-133 13F-140 149 17F 1C4-1CC 1F1-1F3 2B0-2B8 2D8-2DD 2E0-2E4 "
    "300-304 306-30C 30F 311 313-314 31B 323-328 32D-32E 330-331 338 340-345 374 37A 37E 384-385 387 "
    "3D0-3D6 3F0-3F2 3F4-3F5 3F9 587 653-655 675-678 93C 958-95F 9BE 9D7 9DC-9DD 9DF A33 A36 A59-A5B A5E "
    "B3E B56-B57 B5C-B5D BBE BD7 C56 CC2 CD5-CD6 D3E D57 DCA DCF DDF E33 EB3 EDC-EDD F0C F43 F4D F52 F57 "
    "F5C F69 F73 F75-F79 F81 F93 F9D FA2 FA7 FAC FB9 102E 10FC 1161-1175 11A8-11C2 1B35 1D2C-1D2E "
    "1D30-1D3A 1D3C-1D4D 1D4F-1D6A 1D78 1D9B-1DBF 1E9A-1E9B 1F71 1F73 1F75 1F77 1F79 1F7B 1F7D 1FBB "
    "1FBD-1FC1 1FC9 1FCB 1FCD-1FCF 1FD3 1FDB 1FDD-1FDF 1FE3 1FEB 1FED-1FEF 1FF9 1FFB 1FFD-1FFE 2000-200A "
    "2011 2017 2024-2026 202F 2033-2034 2036-2037 203C 203E 2047-2049 2057 205F 2070-2071 2074-208E "
    "2090-209C 20A8 2100-2103 2105-2107 2109-2113 2115-2116 2119-211D 2120-2122 2124 2126 2128 212A-212D "
    "212F-2131 2133-2139 213B-2140 2145-2149 2150-217F 2189 222C-222D 222F-2230 2329-232A 2460-24EA 2A0C "
    "2A74-2A76 2ADC 2C7C-2C7D 2D6F 2E9F 2EF3 2F00-2FD5 3000 3036 3038-303A 3099-309C 309F 30FF 3131-318E "
    "3192-319F 3200-321E 3220-3247 3250-327E 3280-33FF A69C-A69D A770 A7F2-A7F4 A7F8-A7F9 AB5C-AB5F AB69 "
    "F900-FA0D FA10 FA12 FA15-FA1E FA20 FA22 FA25-FA26 FA2A-FA6D FA70-FAD9 FB00-FB06 FB13-FB17 FB1D "
    "FB1F-FB36 FB38-FB3C FB3E FB40-FB41 FB43-FB44 FB46-FBB1 FBD3-FD3D FD50-FD8F FD92-FDC7 FDF0-FDFC "
    "FE10-FE19 FE30-FE44 FE47-FE52 FE54-FE66 FE68-FE6B FE70-FE72 FE74 FE76-FEFC FF01-FFBE FFC2-FFC7 "
    "FFCA-FFCF FFD2-FFD7 FFDA-FFDC FFE0-FFE6 FFE8-FFEE 10781-10785 10787-107B0 107B2-107BA 110BA 11127 "
    "1133E 11357 114B0 114BA 114BD 115AF 11930 1D15E-1D164 1D1BB-1D1C0 1D400-1D454 1D456-1D49C "
    "1D49E-1D49F 1D4A2 1D4A5-1D4A6 1D4A9-1D4AC 1D4AE-1D4B9 1D4BB 1D4BD-1D4C3 1D4C5-1D505 1D507-1D50A "
    "1D50D-1D514 1D516-1D51C 1D51E-1D539 1D53B-1D53E 1D540-1D544 1D546 1D54A-1D550 1D552-1D6A5 "
    "1D6A8-1D7CB 1D7CE-1D7FF 1EE00-1EE03 1EE05-1EE1F 1EE21-1EE22 1EE24 1EE27 1EE29-1EE32 1EE34-1EE37 "
    "1EE39 1EE3B 1EE42 1EE47 1EE49 1EE4B 1EE4D-1EE4F 1EE51-1EE52 1EE54 1EE57 1EE59 1EE5B 1EE5D 1EE5F "
    "1EE61-1EE62 1EE64 1EE67-1EE6A 1EE6C-1EE72 1EE74-1EE77 1EE79-1EE7C 1EE7E 1EE80-1EE89 1EE8B-1EE9B "
    "1EEA1-1EEA3 1EEA5-1EEA9 1EEAB-1EEBB 1F100-1F10A 1F110-1F12E 1F130-1F14F 1F16A-1F16C 1F190 "
    "1F200-1F202 1F210-1F23B 1F240-1F248 1F250-1F251 1FBF0-1FBF9 2F800-2FA1D "
)
_MARKS = (
    "300-34E 350-36F 483-487 591-5BD 5BF 5C1-5C2 5C4-5C5 5C7 610-61A 64B-65F 670 6D6-6DC 6DF-6E4 6E7-6E8 "
    "6EA-6ED 711 730-74A 7EB-7F3 7FD 816-819 81B-823 825-827 829-82D 859-85B 898-89F 8CA-8E1 8E3-8FF 93C "
    "94D 951-954 9BC 9CD 9FE A3C A4D ABC ACD B3C B4D BCD C3C C4D C55-C56 CBC CCD D3B-D3C D4D DCA E38-E3A "
    "E48-E4B EB8-EBA EC8-ECB F18-F19 F35 F37 F39 F71-F72 F74 F7A-F7D F80 F82-F84 F86-F87 FC6 1037 "
    "1039-103A 108D 135D-135F 1714-1715 1734 17D2 17DD 18A9 1939-193B 1A17-1A18 1A60 1A75-1A7C 1A7F "
    "1AB0-1ABD 1ABF-1ACE 1B34 1B44 1B6B-1B73 1BAA-1BAB 1BE6 1BF2-1BF3 1C37 1CD0-1CD2 1CD4-1CE0 1CE2-1CE8 "
    "1CED 1CF4 1CF8-1CF9 1DC0-1DFF 20D0-20DC 20E1 20E5-20F0 2CEF-2CF1 2D7F 2DE0-2DFF 302A-302F 3099-309A "
    "A66F A674-A67D A69E-A69F A6F0-A6F1 A806 A82C A8C4 A8E0-A8F1 A92B-A92D A953 A9B3 A9C0 AAB0 AAB2-AAB4 "
    "AAB7-AAB8 AABE-AABF AAC1 AAF6 ABED FB1E FE20-FE2F 101FD 102E0 10376-1037A 10A0D 10A0F 10A38-10A3A "
    "10A3F 10AE5-10AE6 10D24-10D27 10EAB-10EAC 10F46-10F50 10F82-10F85 11046 11070 1107F 110B9-110BA "
    "11100-11102 11133-11134 11173 111C0 111CA 11235-11236 112E9-112EA 1133B-1133C 1134D 11366-1136C "
    "11370-11374 11442 11446 1145E 114C2-114C3 115BF-115C0 1163F 116B6-116B7 1172B 11839-1183A "
    "1193D-1193E 11943 119E0 11A34 11A47 11A99 11C3F 11D42 11D44-11D45 11D97 16AF0-16AF4 16B30-16B36 "
    "16FF0-16FF1 1BC9E 1D165-1D169 1D16D-1D172 1D17B-1D182 1D185-1D18B 1D1AA-1D1AD 1D242-1D244 "
    "1E000-1E006 1E008-1E018 1E01B-1E021 1E023-1E024 1E026-1E02A 1E130-1E136 1E2AE 1E2EC-1E2EF "
    "1E8D0-1E8D6 1E944-1E94A "
)

Ranges = list[tuple[int, int]]


def _parse(text: str) -> Ranges:
    out = []
    for item in text.split():
        low, _, high = item.partition("-")
        out.append((int(low, 16), int(high or low, 16)))
    return out


def _ranges(code_points: list[int]) -> Ranges:
    out: list[list[int]] = []
    for c in code_points:
        if out and out[-1][1] == c - 1:
            out[-1][1] = c
        else:
            out.append([c, c])
    return [(a, b) for a, b in out]


def build_tables() -> tuple[Ranges, Ranges]:
    """(unsafe, marks) for the running Python's Unicode version (see the module docstring)."""
    unsafe: set[int] = set(range(0x1161, 0x1176)) | set(range(0x11A8, 0x11C3))  # Hangul V and T jamo compose
    marks: list[int] = []
    for c in range(sys.maxunicode + 1):
        if 0xD800 <= c <= 0xDFFF:
            continue
        ch = chr(c)
        if unicodedata.combining(ch):
            marks.append(c)
        if unicodedata.normalize("NFKC", ch) != ch:
            unsafe.add(c)
        decomposition = unicodedata.decomposition(ch)
        if decomposition and not decomposition.startswith("<"):
            parts = decomposition.split()
            if len(parts) == 2:
                first, second = (chr(int(p, 16)) for p in parts)
                if unicodedata.normalize("NFC", first + second) == ch:  # a primary composite: `second` composes
                    unsafe.add(ord(second))
    return _ranges(sorted(unsafe)), _ranges(marks)


@functools.cache
def nfkc_tables() -> tuple[Ranges, Ranges]:
    """The stored tables when they were made for this Python's Unicode version, else freshly built ones."""
    if unicodedata.unidata_version == UNICODE_VERSION:
        return _parse(_UNSAFE), _parse(_MARKS)
    return build_tables()


def regex_class(ranges: Ranges) -> str:
    """A regex character class (Rust regex syntax, as Polars uses) matching the given ranges."""
    parts = [f"\\x{{{a:X}}}" if a == b else f"\\x{{{a:X}}}-\\x{{{b:X}}}" for a, b in ranges]
    return "[" + "".join(parts) + "]"


@functools.cache
def not_nfkc_pattern() -> str:
    """A regex that matches every text that is not NFKC (and a few that are: those get the exact check)."""
    unsafe, marks = nfkc_tables()
    return f"{regex_class(unsafe)}|{regex_class(marks)}{{2}}"
