"""Downloads and the local cache: the one implementation behind data sets (:mod:`sr_lib.data`), weights and
auxiliary files (:mod:`sr_lib.hub`).

Cache layout: ``$SR_CACHE_DIR/<kind>/...`` if ``SR_CACHE_DIR`` is set, else ``~/.cache/sr_lib/<kind>/...``, with
``kind`` = ``datasets`` or ``weights``. A download goes to a temporary file next to its target, is hash-checked,
and only then renamed into place (:func:`sr_lib.imageio.atomic_path`), so an interrupted or corrupt download never
leaves a file behind. Only ``https`` URLs are fetched (``file`` too, for local mirrors and tests).
"""

from __future__ import annotations

import os
import re
import shutil
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Literal

from .errors import SRLibError
from .imageio import atomic_path, sha256_file

CacheKind = Literal["datasets", "weights"]


def cache_root() -> Path:
    """``$SR_CACHE_DIR``, or ``~/.cache/sr_lib``."""
    base = os.environ.get("SR_CACHE_DIR")
    return Path(base) if base else Path.home() / ".cache" / "sr_lib"


def cache_dir(kind: CacheKind) -> Path:
    """Where downloads of ``kind`` go: ``<cache root>/datasets`` or ``<cache root>/weights``."""
    return cache_root() / kind


def github_raw_url(repo_at_commit: str, path: str) -> str:
    """The pinned raw-file URL of ``path`` in ``"owner/name@<40-hex commit>"``."""
    repo, _, commit = repo_at_commit.partition("@")
    if not re.fullmatch(r"[0-9a-f]{40}", commit):
        raise ValueError(f"not pinned to a full commit: {repo_at_commit!r}")
    return f"https://raw.githubusercontent.com/{repo}/{commit}/{urllib.parse.quote(path)}"


def torch_hub_prefix(filename: str) -> str | None:
    """The sha256 prefix a torch-hub style file name carries (``edsr_x2-0edfb8a3.pt`` -> ``"0edfb8a3"``), or None."""
    match = re.fullmatch(r".+-([0-9a-f]{8,64})\.[A-Za-z0-9]+", filename)
    return match.group(1) if match else None


def hash_matches(digest: str, sha256: str | None = None, sha256_prefix: str | None = None) -> bool:
    """Whether the hex ``digest`` equals ``sha256`` and starts with ``sha256_prefix`` (each where given)."""
    if sha256 and digest != sha256.lower():
        return False
    return not (sha256_prefix and not digest.startswith(sha256_prefix.lower()))


def _expected(sha256: str | None, sha256_prefix: str | None) -> str:
    return f"{sha256[:16]}..." if sha256 else f"{sha256_prefix}..."


def check_file(path: str | Path, *, sha256: str | None = None, sha256_prefix: str | None = None, what: str = "",
               error: type[SRLibError] = SRLibError) -> Path:
    """``path`` if its sha256 matches what is published (nothing given: accepted as it is), else one ``error`` line."""
    path = Path(path)
    if not (sha256 or sha256_prefix):
        return path
    digest = sha256_file(path)
    if not hash_matches(digest, sha256, sha256_prefix):
        label = f" ({what})" if what else ""
        raise error(f"{path}: sha256 {digest[:16]}... does not match the published {_expected(sha256, sha256_prefix)}"
                    f"{label}: corrupt or different file, delete it and fetch again")
    return path


def download(url: str, target: str | Path, *, sha256: str | None = None, sha256_prefix: str | None = None,
             allow_unverified: bool = False, what: str = "", timeout: float = 60.0,
             error: type[SRLibError] = SRLibError) -> Path:
    """Fetch ``url`` to ``target``: temporary file, sha256 check, atomic rename; returns ``target``.

    A ``target`` that already exists with the right hash (or, unverified, at all) is kept (no network). A URL with no
    known hash is fetched only with ``allow_unverified``. Every failure (scheme, network, hash) is one ``error`` line and leaves no file.
    """
    target = Path(target)
    label = what or url
    if urllib.parse.urlparse(url).scheme not in ("https", "file"):
        raise error(f"refusing to download {url}: only https URLs are fetched")
    verifiable = bool(sha256 or sha256_prefix)
    if not verifiable and not allow_unverified:
        raise error(f"{label} has no known sha256; pass allow_unverified=True (--allow-unverified) to download "
                    f"{url} anyway")
    if target.is_file() and (not verifiable or hash_matches(sha256_file(target), sha256, sha256_prefix)):
        return target  # already there (a stale or partial copy is replaced below)
    try:
        with atomic_path(target) as tmp:
            with urllib.request.urlopen(url, timeout=timeout) as resp, open(tmp, "wb") as out:
                shutil.copyfileobj(resp, out)
            digest = sha256_file(tmp)
            if not hash_matches(digest, sha256, sha256_prefix):
                raise error(f"downloaded {url} has sha256 {digest[:16]}..., expected "
                            f"{_expected(sha256, sha256_prefix)}; nothing was saved")
    except OSError as exc:  # URLError, timeouts, disk errors
        reason = getattr(exc, "reason", exc)
        raise error(f"cannot download {url}: {reason}".splitlines()[0]) from None
    return target
