"""Helper checks of spec §5.4: durations, cron expressions and URLs.

They reproduce Go's ``time.ParseDuration``, ``robfig/cron/v3`` (5-field parser) and
``net/url.Parse`` closely enough to give the same verdicts and the same error texts.
"""

from __future__ import annotations

import re

from .errors import escape_char, quote

# Characters with the Unicode White_Space property (Go's unicode.IsSpace).
_WHITE_SPACE = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
    "\u200a\u2028\u2029\u202f\u205f\u3000"
)
_WS_SPLIT = re.compile("[" + re.escape(_WHITE_SPACE) + "]+")

_DIGITS = frozenset("0123456789")

# ---------------------------------------------------------------------------------------------
# durations (Go time.ParseDuration)
# ---------------------------------------------------------------------------------------------

_UNITS = {
    "ns": 1,
    "us": 1_000,
    "\u00b5s": 1_000,
    "\u03bcs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_TWO63 = 1 << 63


def is_duration(text: str) -> bool:
    """True when ``text`` is a valid Go duration (``1h30m``, ``1.5h``, ``300ms``, ``0``...)."""
    s = text
    neg = False
    if s and s[0] in "+-":
        neg = s[0] == "-"
        s = s[1:]
    if s == "0":
        return True
    if not s:
        return False
    total = 0
    n = len(s)
    i = 0
    while i < n:
        if not (s[i] == "." or s[i] in _DIGITS):
            return False
        # leading integer
        start = i
        v = 0
        while i < n and s[i] in _DIGITS:
            if v > _TWO63 // 10:
                return False  # overflow
            v = v * 10 + (ord(s[i]) - 48)
            if v > _TWO63:
                return False
            i += 1
        pre = i != start
        # fraction
        f, scale, post = 0, 1.0, False
        if i < n and s[i] == ".":
            i += 1
            fstart = i
            overflow = False
            while i < n and s[i] in _DIGITS:
                if not overflow:
                    if f > (_TWO63 - 1) // 10:
                        overflow = True
                    else:
                        y = f * 10 + (ord(s[i]) - 48)
                        if y > _TWO63:
                            overflow = True
                        else:
                            f = y
                            scale *= 10
                i += 1
            post = i != fstart
        if not pre and not post:
            return False
        # unit
        ustart = i
        while i < n and not (s[i] == "." or s[i] in _DIGITS):
            i += 1
        if i == ustart:
            return False
        unit = _UNITS.get(s[ustart:i])
        if unit is None:
            return False
        if v > _TWO63 // unit:
            return False
        v *= unit
        if f > 0:
            v += int(float(f) * (float(unit) / scale))
            if v > _TWO63:
                return False
        total += v
        if total > _TWO63:
            return False
    return neg or total <= _TWO63 - 1


# ---------------------------------------------------------------------------------------------
# cron expressions (robfig/cron v3, minute hour dom month dow)
# ---------------------------------------------------------------------------------------------

_MONTHS = {
    name: i + 1
    for i, name in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    )
}
_DAYS = {name: i for i, name in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}
_CRON_FIELDS = (
    (0, 59, None),
    (0, 23, None),
    (1, 31, None),
    (1, 12, _MONTHS),
    (0, 6, _DAYS),
)
_MAX_UINT64 = (1 << 64) - 1
_MAX_INT64 = (1 << 63) - 1


class _CronError(Exception):
    pass


def _atoi(text: str) -> int:
    """Go ``strconv.Atoi`` (base 10, optional sign); raises _CronError with Go's message."""

    def fail(reason: str) -> _CronError:
        return _CronError(
            f"failed to parse int from {text}: strconv.Atoi: parsing {quote(text)}: {reason}"
        )

    s = text
    neg = False
    if s and s[0] in "+-":
        neg = s[0] == "-"
        s = s[1:]
    if not s:
        raise fail("invalid syntax")
    value = 0
    for ch in s:
        if ch not in _DIGITS:
            raise fail("invalid syntax")
        value = value * 10 + (ord(ch) - 48)
        if value > _MAX_UINT64:
            raise fail("value out of range")
    if (not neg and value > _MAX_INT64) or (neg and value > _MAX_INT64 + 1):
        raise fail("value out of range")
    return -value if neg else value


def _cron_value(text: str, names) -> int:
    if names is not None:
        named = names.get(text.lower())
        if named is not None:
            return named
    num = _atoi(text)
    if num < 0:
        raise _CronError(f"negative number ({num}) not allowed: {text}")
    return num


def _cron_range(expr: str, low: int, high: int, names) -> None:
    range_and_step = expr.split("/")
    low_and_high = range_and_step[0].split("-")
    single = len(low_and_high) == 1
    if low_and_high[0] in ("*", "?"):
        start, end = low, high
    else:
        start = _cron_value(low_and_high[0], names)
        if len(low_and_high) == 1:
            end = start
        elif len(low_and_high) == 2:
            end = _cron_value(low_and_high[1], names)
        else:
            raise _CronError(f"too many hyphens: {expr}")
    if len(range_and_step) == 1:
        step = 1
    elif len(range_and_step) == 2:
        step = _cron_value(range_and_step[1], None)
        if single:
            end = high
    else:
        raise _CronError(f"too many slashes: {expr}")
    if start < low:
        raise _CronError(f"beginning of range ({start}) below minimum ({low}): {expr}")
    if end > high:
        raise _CronError(f"end of range ({end}) above maximum ({high}): {expr}")
    if start > end:
        raise _CronError(f"beginning of range ({start}) beyond end of range ({end}): {expr}")
    if step == 0:
        raise _CronError(f"step of range should be a positive number: {expr}")


def cron_error(value: str) -> str | None:
    """``None`` when ``value`` is a valid cron expression, else the §5.4 detail message."""
    s = value
    if s.startswith(("TZ=", "CRON_TZ=")):
        space = s.find(" ")
        s = s[space:].strip(_WHITE_SPACE) if space >= 0 else ""
    try:
        if s.startswith("@"):
            raise _CronError(f"parser does not accept descriptors: {s}")
        fields = [f for f in _WS_SPLIT.split(s) if f]
        if len(fields) != 5:
            raise _CronError(
                f"expected exactly 5 fields, found {len(fields)}: [{' '.join(fields)}]"
            )
        for field, (low, high, names) in zip(fields, _CRON_FIELDS, strict=True):
            for part in field.split(","):
                if part:
                    _cron_range(part, low, high, names)
    except _CronError as exc:
        return str(exc)
    return None


# ---------------------------------------------------------------------------------------------
# URLs (Go net/url.Parse)
# ---------------------------------------------------------------------------------------------

_HEX = frozenset(b"0123456789abcdefABCDEF")
_ALNUM = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_HOST_OK = _ALNUM | frozenset(b"!$&'()*+,;=:[]<>\"-_.~")
_USERINFO_OK = _ALNUM | frozenset(b"-._:~!$&'()*+,;=%@")
_SCHEME_REST = _ALNUM | frozenset(b"+-.")
_LETTERS = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _bquote(data: bytes) -> str:
    """Go ``%q`` of a byte string: valid UTF-8 as characters, invalid bytes as ``\\xHH``."""
    text = data.decode("utf-8", errors="surrogateescape")
    parts = []
    for ch in text:
        if "\udc80" <= ch <= "\udcff":
            parts.append(f"\\x{ord(ch) - 0xDC00:02x}")
        else:
            parts.append(escape_char(ch))
    return '"' + "".join(parts) + '"'


class _UrlError(Exception):
    pass


def _unhex(c: int) -> int:
    return int(chr(c), 16)


def _unescape(s: bytes, mode: str) -> None:
    """Check the ``%`` escapes (and, for hosts, the characters) like Go's ``unescape``."""
    i = 0
    n = len(s)
    while i < n:
        c = s[i]
        if c == 0x25:  # %
            if i + 2 >= n or s[i + 1] not in _HEX or s[i + 2] not in _HEX:
                raise _UrlError(f"invalid URL escape {_bquote(s[i : i + 3])}")
            if mode == "host" and _unhex(s[i + 1]) < 8 and s[i : i + 3] != b"%25":
                raise _UrlError(f"invalid URL escape {_bquote(s[i : i + 3])}")
            if mode == "zone":
                v = _unhex(s[i + 1]) << 4 | _unhex(s[i + 2])
                if s[i : i + 3] != b"%25" and v != 0x20 and (v >= 0x80 or v not in _HOST_OK):
                    raise _UrlError(f"invalid URL escape {_bquote(s[i : i + 3])}")
            i += 3
        else:
            if mode in ("host", "zone") and c < 0x80 and c not in _HOST_OK:
                raise _UrlError(f"invalid character {_bquote(bytes([c]))} in host name")
            i += 1


def _valid_port(port: bytes) -> bool:
    if not port:
        return True
    return port[:1] == b":" and all(0x30 <= b <= 0x39 for b in port[1:])


def _parse_host(host: bytes) -> None:
    if host.startswith(b"["):
        i = host.rfind(b"]")
        if i < 0:
            raise _UrlError("missing ']' in host")
        colon_port = host[i + 1 :]
        if not _valid_port(colon_port):
            raise _UrlError(f"invalid port {_bquote(colon_port)} after host")
        zone = host[:i].find(b"%25")
        if zone >= 0:
            _unescape(host[:zone], "host")
            _unescape(host[zone:i], "zone")
            _unescape(host[i:], "host")
            return
    else:
        i = host.rfind(b":")
        if i != -1:
            colon_port = host[i:]
            if not _valid_port(colon_port):
                raise _UrlError(f"invalid port {_bquote(colon_port)} after host")
    _unescape(host, "host")


def _parse_authority(authority: bytes) -> None:
    i = authority.rfind(b"@")
    _parse_host(authority[i + 1 :] if i >= 0 else authority)
    if i < 0:
        return
    userinfo = authority[:i]
    if any(b not in _USERINFO_OK for b in userinfo):
        raise _UrlError("net/url: invalid userinfo")
    if b":" not in userinfo:
        _unescape(userinfo, "userinfo")
    else:
        username, _, password = userinfo.partition(b":")
        _unescape(username, "userinfo")
        _unescape(password, "userinfo")


def _parse_reference(raw: bytes) -> bytes:
    """Go's internal ``parse(rawURL, false)``; returns the lower-cased scheme."""
    if any(b < 0x20 or b == 0x7F for b in raw):
        raise _UrlError("net/url: invalid control character in URL")
    if raw == b"*":
        return b""
    scheme, rest = b"", raw
    for i, c in enumerate(raw):
        if c in _LETTERS:
            continue
        if c in _SCHEME_REST:
            if i == 0:
                break
            continue
        if c == 0x3A:  # :
            if i == 0:
                raise _UrlError("missing protocol scheme")
            scheme, rest = raw[:i], raw[i + 1 :]
        break
    scheme = scheme.lower()
    rest = rest.partition(b"?")[0]
    if not rest.startswith(b"/"):
        if scheme:
            return scheme  # opaque
        if b":" in rest.partition(b"/")[0]:
            raise _UrlError("first path segment in URL cannot contain colon")
    if (scheme or not rest.startswith(b"///")) and rest.startswith(b"//"):
        authority = rest[2:]
        slash = authority.find(b"/")
        if slash >= 0:
            authority, rest = authority[:slash], authority[slash:]
        else:
            rest = b""
        _parse_authority(authority)
    _unescape(rest, "path")
    return scheme


def url_error(value: str) -> tuple[str | None, str]:
    """Check ``value`` like Go's ``url.Parse``.

    Returns ``(error, scheme)``: ``error`` is ``None`` when the URL parses, else the text
    ``parse "<url>": <reason>``; ``scheme`` is the lower-cased scheme (``""`` if none).
    """
    head, sep, frag = value.partition("#")
    raw = head.encode("utf-8", errors="surrogatepass")
    try:
        scheme = _parse_reference(raw)
    except _UrlError as exc:
        return f"parse {quote(head)}: {exc}", ""
    if sep and frag:
        try:
            _unescape(frag.encode("utf-8", errors="surrogatepass"), "fragment")
        except _UrlError as exc:
            return f"parse {quote(value)}: {exc}", ""
    return None, scheme.decode("ascii")
