"""Finding a preset's weights, and loading exactly the bytes whose sha256 was checked.

Where the weights come from, in order: an explicit `path` (any file name); the file shipped
in the installed package; the user cache (`$TFFLOWS_HOME`, default `~/.cache/tfflows`, as
`<name>/<sha256[:16]>/<file>`); the preset's URL, `https://` or `file://` only (any other
scheme, and a redirect away from https, is refused before anything is fetched), downloaded
into the cache through a temporary file that is renamed into place only after its hash
matched. Nothing touches the network while a local copy exists.

Checking and loading read the same bytes: `verified_copy` streams the file it found, once,
into a private temporary folder (mode 0700) while hashing it, and the model loads that copy
(as `<folder>/model.weights.h5`, the name Keras asks for). Replacing the original file after
the check changes nothing; rewriting it in place during the copy fails the check.
`resolve_weights` checks a file where it lies and returns its path, for callers that want the
path; load through `verified_copy`, as `tfflows.zoo.load` does.

Temporary files (downloads in the cache, private copies in the system temp folder) are named
`<stem>.pid<pid>@<host>.<random>.part`. Each resolve removes the ones of this host whose
process is gone (e.g. killed during a download) and leaves those of live processes alone, so
a download running in another process is never disturbed.

Every failure is a `WeightsError` that says what to do: a hash mismatch, a missing file, a
URL of another scheme, a cache folder that cannot be written (read-only, not a folder, disk
full), a preset name or file name that is not a plain file name.
"""

import contextlib
import errno
import hashlib
import http.client
import os
import pathlib
import re
import shutil
import socket
import tempfile
import urllib.error
import urllib.parse
import urllib.request

ALLOWED_SCHEMES = ("https", "file")
_CHUNK = 1 << 20
_PRIVATE_STEM = "tfflows-weights"
_TEMP = re.compile(r"(?P<stem>.+)\.pid(?P<pid>\d+)@(?P<host>[A-Za-z0-9._-]+)\.[A-Za-z0-9_]+\.part")
_SHA256 = re.compile(r"[0-9a-f]{64}")


class WeightsError(RuntimeError):
    """Weights missing, not the bytes the preset names (sha256 mismatch), not reachable by
    an allowed URL, not storable in the cache, or named unsafely."""


def sha256_file(path, chunk=_CHUNK):
    """The hex sha256 of the file at `path`."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def cache_root():
    """The user cache: `$TFFLOWS_HOME`, default `~/.cache/tfflows`."""
    return pathlib.Path(
        os.environ.get("TFFLOWS_HOME") or pathlib.Path.home() / ".cache" / "tfflows"
    )


def _mismatch(source, actual, expected):
    return WeightsError(
        f"{source}: sha256 {actual} does not match the preset's {expected}; "
        "nothing was loaded (a corrupt or tampered file?)"
    )


def verify(path, expected):
    """Raises WeightsError naming the file and both hashes unless `path` hashes to `expected`.

    This checks the file as it is now; to load the checked bytes, use `verified_copy`."""
    actual = sha256_file(path)
    if actual != expected:
        raise _mismatch(path, actual, expected)
    return pathlib.Path(path)


# ----------------------------------------------------------------- argument checks
def _check_plain_name(value, what):
    """`value` must be one plain file name: it becomes a path component."""
    bad = (
        not isinstance(value, str)
        or value in ("", ".", "..")
        or "/" in value
        or "\\" in value
        or "\0" in value
        or (os.altsep is not None and os.altsep in value)
    )
    if bad:
        raise WeightsError(
            f"{what} {value!r} is not a plain file name (no folders, not '.' or '..'); "
            "it would place files outside the weights folder"
        )


def _check_sha256(sha256):
    if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
        raise WeightsError(f"sha256 {sha256!r} is not 64 lowercase hex digits; fix the preset")


def _check_url(url):
    """Raises WeightsError unless `url` is https:// or file:// (checked before any access)."""
    scheme = urllib.parse.urlsplit(str(url)).scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        raise WeightsError(
            f"weights URL {url!r} has the scheme {scheme or 'none'!r}; only https:// and "
            "file:// URLs are allowed: fix the preset's URL, or pass path= to a local copy"
        )


# ----------------------------------------------------------------- temporary files
def _host():
    return re.sub(r"[^A-Za-z0-9.-]", "_", socket.gethostname()) or "localhost"


def _temp_affixes(stem):
    """mkstemp/mkdtemp prefix and suffix of a temporary file owned by this process."""
    return f"{stem}.pid{os.getpid()}@{_host()}.", ".part"


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. EPERM: the process exists but belongs to another user
        return True
    return True


def _remove_stale_temps(folder, stem=None):
    """Removes this host's temporary files in `folder` (optionally only those named
    `<stem>...`) whose owning process is gone; returns the paths removed. Best effort: a
    file that cannot be removed (read-only folder, another user's) is left alone."""
    folder = pathlib.Path(folder)
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    host = _host()
    for entry in entries:
        match = _TEMP.fullmatch(entry.name)
        if not match or match["host"] != host or (stem is not None and match["stem"] != stem):
            continue
        if _alive(int(match["pid"])):
            continue
        path = folder / entry.name
        try:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(path)
            else:
                path.unlink()
        except OSError:
            continue
        removed.append(path)
    return removed


def _clean_cache(name):
    """Stale download temporaries of preset `name`, in every cached version's folder."""
    preset_folder = cache_root() / name
    with contextlib.suppress(OSError):
        for version in preset_folder.iterdir():
            if version.is_dir():
                _remove_stale_temps(version)


@contextlib.contextmanager
def _writing(folder, advice):
    """Turns an OSError while writing into `folder` into a WeightsError saying what to do."""
    try:
        yield
    except OSError as err:
        reason = err.strerror or str(err)
        if err.errno == errno.ENOSPC:
            reason += " (the disk is full)"
        raise WeightsError(f"cannot write to {folder}: {reason}; {advice}") from err


def _cache_writes(folder):
    return _writing(
        folder,
        "the weights cache must be a writable folder with free space: free some space, set "
        "$TFFLOWS_HOME to another folder, or pass path= to a local copy of the weights",
    )


# ----------------------------------------------------------------- download
class _HttpsOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follows a redirect only to another https:// URL (urllib would follow http and ftp)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if urllib.parse.urlsplit(newurl).scheme.lower() != "https":
            raise WeightsError(
                f"{req.full_url} redirected to {newurl}; only https:// redirects are followed"
            )
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _fetch(url, out, desc, progress):
    """Streams `url` into the open file `out`; returns the hex sha256 of what was written.
    Network failures become WeightsError; write failures stay OSError for the caller."""
    _check_url(url)
    opener = urllib.request.build_opener(_HttpsOnlyRedirects)
    try:
        response = opener.open(url)
    except (OSError, ValueError) as err:  # URLError and HTTPError are OSErrors
        raise WeightsError(f"could not download {url}: {err}") from err
    digest = hashlib.sha256()
    bar = None
    with response:
        if progress:
            from tqdm.auto import tqdm

            total = int(response.headers.get("Content-Length") or 0) or None
            bar = tqdm(total=total, unit="B", unit_scale=True, desc=desc, leave=False)
        while True:
            try:
                block = response.read(_CHUNK)
            except (OSError, http.client.HTTPException) as err:
                raise WeightsError(f"the download of {url} broke off: {err}") from err
            if not block:
                break
            digest.update(block)
            out.write(block)
            if bar is not None:
                bar.update(len(block))
    if bar is not None:
        bar.close()
    return digest.hexdigest()


def _download(url, target, expected, progress=True):
    folder = target.parent
    with _cache_writes(folder):
        folder.mkdir(parents=True, exist_ok=True)
        prefix, suffix = _temp_affixes(f".{target.name}")
        fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=folder)
    try:
        with _cache_writes(folder), os.fdopen(fd, "wb") as out:
            actual = _fetch(url, out, target.name, progress)
        if actual != expected:
            raise WeightsError(
                f"{url}: downloaded sha256 {actual} does not match the preset's "
                f"{expected}; the download was discarded"
            )
        with _cache_writes(folder):
            os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
    return target


# ----------------------------------------------------------------- resolving
def _locate(name, file_name, sha256, shipped_dir, url, path, progress):
    """(file, verified): the file to read; `verified` if it was just downloaded and checked."""
    _check_plain_name(name, "preset name")
    _check_plain_name(file_name, "weights file name")
    _check_sha256(sha256)
    if url:
        _check_url(url)
    _clean_cache(name)
    if path is not None:
        if not pathlib.Path(path).is_file():
            raise WeightsError(f"weights file {path} does not exist (or is not a file)")
        return pathlib.Path(path), False
    if shipped_dir is not None and (pathlib.Path(shipped_dir) / file_name).is_file():
        return pathlib.Path(shipped_dir) / file_name, False
    cached = cache_root() / name / sha256[:16] / file_name
    if cached.is_file():
        return cached, False
    if url:
        return _download(url, cached, sha256, progress), True
    raise WeightsError(
        f"no weights for {name!r}: not shipped with the package, not in the cache "
        f"({cached}), and the preset has no URL; pass path= to a copy of the weights"
    )


def resolve_weights(name, file_name, sha256, shipped_dir=None, url=None, path=None, progress=True):
    """The local path of a preset's weights, checked against `sha256` (see the module doc).

    The file is checked where it lies; whoever can write there can replace it afterwards,
    so load the weights through `verified_copy` (as `tfflows.zoo.load` does), not by path.
    `name` and `file_name` must be plain file names; `url` must be https:// or file://.
    """
    file, verified = _locate(name, file_name, sha256, shipped_dir, url, path, progress)
    return file if verified else verify(file, sha256)


def _read_blocks(path):
    """The file's bytes in blocks, read through one open descriptor; a read failure is a
    WeightsError (so that `_writing` does not take it for a failed write)."""
    try:
        with open(path, "rb") as f:
            yield from iter(lambda: f.read(_CHUNK), b"")
    except OSError as err:
        raise WeightsError(f"cannot read weights file {path}: {err}") from err


@contextlib.contextmanager
def verified_copy(name, file_name, sha256, shipped_dir=None, url=None, path=None, progress=True):
    """Context manager: a private copy of the preset's weights, `<folder>/model.weights.h5`,
    whose bytes were hashed while they were copied (found as by `resolve_weights`).

    The folder is private to this user (mode 0700) and removed on exit; a process killed
    inside leaves it behind, and the next call removes it. Raises WeightsError on a sha256
    mismatch (nothing is yielded) or when the copy cannot be written.

        with verified_copy(...) as file:
            model.load_weights(file)
    """
    source, _ = _locate(name, file_name, sha256, shipped_dir, url, path, progress)
    temp_root = tempfile.gettempdir()
    _remove_stale_temps(temp_root, stem=_PRIVATE_STEM)
    advice = "free some space there, or set $TMPDIR to a writable folder with free space"
    with _writing(temp_root, advice):
        prefix, suffix = _temp_affixes(_PRIVATE_STEM)
        folder = pathlib.Path(tempfile.mkdtemp(prefix=prefix, suffix=suffix))
    try:
        copy = folder / "model.weights.h5"
        digest = hashlib.sha256()
        with _writing(folder, advice), open(copy, "xb") as out:
            for block in _read_blocks(source):
                digest.update(block)
                out.write(block)
        if digest.hexdigest() != sha256:
            raise _mismatch(source, digest.hexdigest(), sha256)
        yield copy
    finally:
        shutil.rmtree(folder, ignore_errors=True)
