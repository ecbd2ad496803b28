"""Accounts, tokens and passwords, and what each role may see.

A token is 256 random bits, shown once and stored only as its SHA-256 (a fast hash is right for a
random secret: there is nothing to guess). A password is for people logging in to the web pages and is
stored with scrypt, a slow key-derivation function, checked only at login.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from .store import Account

TOKEN_BYTES = 32
_SCRYPT = {"n": 2 ** 15, "r": 8, "p": 1}
_SCRYPT_MAXMEM = 64 * 2 ** 20


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, dklen=32, maxmem=_SCRYPT_MAXMEM, **_SCRYPT)
    return "scrypt${n}${r}${p}${salt}${digest}".format(
        **_SCRYPT, salt=base64.b64encode(salt).decode(), digest=base64.b64encode(digest).decode())


def check_password(password: str, stored: str | None) -> bool:
    if not stored or not stored.startswith("scrypt$"):
        return False
    try:
        _, n, r, p, salt, digest = stored.split("$")
        found = hashlib.scrypt(password.encode("utf-8"), salt=base64.b64decode(salt), n=int(n), r=int(r),
                               p=int(p), dklen=32, maxmem=_SCRYPT_MAXMEM)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(found, base64.b64decode(digest))


# --------------------------------------------------------------------------- who sees what

def may_read(account: Account, centre_id: str) -> bool:
    """A bureau and a system account read every centre; a community account only its own."""
    return account.role != "community" or account.centre_id == centre_id


def may_submit(account: Account, centre_id: str) -> bool:
    return account.role != "community" or account.centre_id == centre_id


def may_run_batches(account: Account) -> bool:
    return account.role == "bureau"


def may_inspect(account: Account) -> bool:
    """Only a bureau account submits an inspection (``audit.kind: inspection``): the bureau's inspectors score it."""
    return account.role == "bureau"
