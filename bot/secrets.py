"""Per-server API keys encrypted at rest, and the one place secrets are scrubbed from text.

Two audiences, two rules. The log (``redact``, ``SecretRedactingFilter``) loses every
secret we know and every credential-shaped token, marked ``[REDACTED]``. Text a user
reads (``scrub``, ``scrub_credentials``, ``scrub_error``) loses the key of the gateway
that answered and, in a gateway's own words, anything that merely looks like a
credential (a false positive there costs a word, not a diagnosis), marked
``[redacted]`` so that it reads as part of the sentence.

The Fernet key comes from SECRET_KEY through scrypt rather than HKDF: HKDF is right
for a secret that is already random, but SECRET_KEY is typed by an operator and may
be a passphrase, and the threat here is someone holding a copy of the database. A
memory-hard KDF makes guessing the passphrase from a stolen ciphertext expensive,
and its cost (~0.1 s) is paid once per start. The salt is fixed because there is one
derived key per installation, and a random salt would have to be stored somewhere
the same thief can read.
"""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from bot.errors import ConfigError, ImagineError
from bot.i18n import map_words
from bot.limits import MIN_SECRET_KEY_CHARS

if TYPE_CHECKING:
    from cryptography.fernet import Fernet

# cryptography is imported where keys are used: the scrubbers below run in every CPU
# worker (through the gateway's error mapping), which never holds a key.

_SALT = b"imagine-bot/keybox/v1"
# 32 MiB and ~0.1 s: OWASP's floor for scrypt is N=2**17 for per-login hashing;
# a key derived once at start-up can afford 2**15 on small hosts.
_SCRYPT_N = 2**15
_SCRYPT_R = 8
_SCRYPT_P = 1

REDACTED = "[REDACTED]"
REDACTED_FOR_USERS = "[redacted]"
# Shorter "secrets" would shred ordinary words in the log.
_MIN_REDACT_LENGTH = 6
# A gateway key echoed into a user's message goes even if short: the user text is one
# sentence, not a log to search.
_MIN_SCRUB_LENGTH = 4
# Shorter beginnings of a key are too likely to be words ("sk-proj-" is 8).
_MIN_PREFIX_LENGTH = 8


def _fernet(secret_key: str, name: str) -> Fernet:
    if not isinstance(secret_key, str) or len(secret_key.strip()) < MIN_SECRET_KEY_CHARS:
        raise ConfigError(
            f"{name} must be at least {MIN_SECRET_KEY_CHARS} characters; "
            'generate one with: python -c "import secrets; print(secrets.token_urlsafe(32))"'
        )
    from cryptography.fernet import Fernet
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    kdf = Scrypt(salt=_SALT, length=32, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P)
    return Fernet(base64.urlsafe_b64encode(kdf.derive(secret_key.encode())))


class KeyBox:
    """Encrypts per-server API keys with a key derived from SECRET_KEY.

    ``previous`` keys (SECRET_KEY_PREVIOUS) still decrypt, so SECRET_KEY can be
    changed without losing the stored keys; ``rotate`` re-encrypts one with the new key.
    """

    def __init__(self, secret_key: str, previous: Iterable[str] = ()) -> None:
        keys = [_fernet(secret_key, "SECRET_KEY")]
        keys += [_fernet(key, "SECRET_KEY_PREVIOUS") for key in previous]
        from cryptography.fernet import MultiFernet

        self._fernet = MultiFernet(keys)
        self.rotating = len(keys) > 1

    def __repr__(self) -> str:
        return "KeyBox(...)"

    def encrypt(self, plaintext: str) -> bytes:
        return self._fernet.encrypt(plaintext.encode())

    def decrypt(self, token: bytes) -> str:
        from cryptography.fernet import InvalidToken

        try:
            return self._fernet.decrypt(bytes(token)).decode()
        except InvalidToken:
            raise ConfigError(_UNREADABLE) from None

    def rotate(self, token: bytes) -> bytes:
        """``token`` encrypted with SECRET_KEY, whichever known key it was made with."""
        from cryptography.fernet import InvalidToken

        try:
            return self._fernet.rotate(bytes(token))
        except InvalidToken:
            raise ConfigError(_UNREADABLE) from None


_UNREADABLE = (
    "A stored API key could not be decrypted: SECRET_KEY has changed since it was saved. "
    "Set the old one as SECRET_KEY_PREVIOUS, or have a server admin enter the key again "
    "with /settings gateway."
)


# Shapes of credentials we may not have been told about.
_TOKEN_PATTERNS = (
    # Discord bot token: base64 user id . timestamp . HMAC
    re.compile(r"\b[A-Za-z0-9_-]{23,28}\.[A-Za-z0-9_-]{6,7}\.[A-Za-z0-9_-]{27,40}\b"),
    # OpenAI / OpenRouter style: sk-..., sk-proj-..., sk-or-v1-...; Stripe style sk_live_...
    re.compile(r"\bsk-[A-Za-z0-9_-]{16,}"),
    re.compile(r"\b[spr]k_(?:live|test)_[A-Za-z0-9]{8,}"),
    # Google API keys
    re.compile(r"\bAIza[A-Za-z0-9_-]{30,}"),
)
_BEARER = re.compile(r"(?i)\b(Bearer\s+)[A-Za-z0-9._~+/=-]{8,}")
_BOT_AUTH = re.compile(r"(?i)\b(Bot\s+)[A-Za-z0-9_-]{20,}\.[A-Za-z0-9._-]+")


# In a gateway's words shown to a user: key shapes (OpenAI, Stripe-style, Google, AWS),
# Authorization values, key=value pairs (quoted or not), JWTs, URL credentials, any long
# random-looking token, and base64-alphabet ones with "/" or "+" in mixed case and digits
# (an AWS secret key), which paths and prose are not.
_CREDENTIALS = re.compile(
    r"\b(sk|pk|rk)-[A-Za-z0-9_\-]{6,}|\b(sk|pk|rk)_(live|test)_[A-Za-z0-9]{8,}"
    r"|\bAIza[0-9A-Za-z_\-]{10,}|\bAKIA[0-9A-Z]{16}\b|(Bearer|Basic)\s+\S+"
    r"|\b(api[_-]?key|key|token|access_token|secret|password|sig|signature)[=:]\s*"
    r"(\"[^\"\s]*\"|'[^'\s]*'|[^\s&\"',]+)"
    r"|\beyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-.]+|//[^/\s:@]+:[^/\s@]+@|\b[A-Za-z0-9_\-]{32,}\b"
    r"|(?<![\w/+=.-])(?=[A-Za-z0-9+/]*[/+])(?=[A-Za-z0-9+/]*[A-Z])(?=[A-Za-z0-9+/]*[a-z])"
    r"(?=[A-Za-z0-9+/]*[0-9])[A-Za-z0-9+/]{32,}={0,2}(?![\w/+=-])",
    re.IGNORECASE,
)


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every known secret and every credential-shaped string replaced."""
    known = sorted(
        {s for s in secrets if s and len(s) >= _MIN_REDACT_LENGTH}, key=len, reverse=True
    )
    for secret in known:
        if secret in text:
            text = text.replace(secret, REDACTED)
    text = _BEARER.sub(lambda m: m.group(1) + REDACTED, text)
    text = _BOT_AUTH.sub(lambda m: m.group(1) + REDACTED, text)
    for pattern in _TOKEN_PATTERNS:
        text = pattern.sub(REDACTED, text)
    return text


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` for a user, with each of ``secrets`` (the gateway's key) replaced.

    A run of a secret's first ``_MIN_PREFIX_LENGTH`` or more characters goes too: a
    gateway's words are cut to fit a sentence, and a key cut in half is half a key.
    """
    for secret in secrets:
        if secret and len(secret) >= _MIN_SCRUB_LENGTH:
            text = text.replace(secret, REDACTED_FOR_USERS)
            if len(secret) > _MIN_PREFIX_LENGTH:
                text = _scrub_prefixes(text, secret)
    return text


def _scrub_prefixes(text: str, secret: str) -> str:
    head = secret[:_MIN_PREFIX_LENGTH]
    pieces: list[str] = []
    done = 0
    at = text.find(head)
    while at >= 0:
        end = at + len(head)
        while end < len(text) and end - at < len(secret) and text[end] == secret[end - at]:
            end += 1
        pieces += [text[done:at], REDACTED_FOR_USERS]
        done = end
        at = text.find(head, end)
    return "".join(pieces) + text[done:] if pieces else text


def scrub_credentials(text: str) -> str:
    """A gateway's words for a user, with everything credential-shaped replaced."""
    return _CREDENTIALS.sub(REDACTED_FOR_USERS, text)


def scrub_error(exc: ImagineError, api_key: str) -> None:
    """Remove the key (or what is left of it after a cut) from an error's message."""
    if not api_key:
        return
    exc.reword(map_words(exc.message, lambda words: scrub(words, (api_key,))))
    exc.gateway_message = scrub(exc.gateway_message, (api_key,))


class SecretRedactingFilter(logging.Filter):
    """Scrubs secrets from log records: message, arguments, exception and stack text.

    Install it on handlers, not only on a logger: a logger's filters see just the
    records logged on that very logger, not those propagating from its children.
    ``secrets_provider`` is called per record, so keys decrypted later are covered.
    """

    def __init__(self, secrets_provider: Callable[[], Iterable[str]]) -> None:
        super().__init__()
        self._provider = secrets_provider

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = list(self._provider())
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a filter must never break logging; keep the pieces
            message = f"{record.msg} {record.args!r}"
        record.msg = redact(str(message), secrets)
        record.args = None
        if record.exc_info and record.exc_info[0] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = redact(text, secrets)
            # Formatters that re-render exc_info (discord.py's colour formatter does)
            # would print the raw secret; the scrubbed text is kept in exc_text.
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = redact(record.exc_text, secrets)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, secrets)
        return True
