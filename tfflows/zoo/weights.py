"""Finding a preset's weights file, verified by sha256 before anything is loaded.

Order: an explicit path; the file shipped in the installed package; the user cache
(`$TFFLOWS_HOME`, default `~/.cache/tfflows`); the preset's URL (https or file), downloaded
into the cache through a temporary file that is renamed into place only after its hash
matched. Nothing touches the network while a verified local copy exists.
"""

import hashlib
import os
import pathlib
import tempfile
import urllib.request


class WeightsError(RuntimeError):
    """Weights missing, or not the bytes the preset names (sha256 mismatch)."""


def sha256_file(path, chunk=1 << 20):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def cache_root():
    return pathlib.Path(
        os.environ.get("TFFLOWS_HOME") or pathlib.Path.home() / ".cache" / "tfflows"
    )


def verify(path, expected):
    """Raises WeightsError naming the file and both hashes unless `path` hashes to `expected`."""
    actual = sha256_file(path)
    if actual != expected:
        raise WeightsError(
            f"{path}: sha256 {actual} does not match the preset's {expected}; "
            "nothing was loaded (a corrupt or tampered file?)"
        )
    return pathlib.Path(path)


def _download(url, target, expected, progress=True):
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            bar = None
            if progress:
                from tqdm.auto import tqdm

                bar = tqdm(total=total, unit="B", unit_scale=True, desc=target.name, leave=False)
            for block in iter(lambda: response.read(1 << 20), b""):
                digest.update(block)
                out.write(block)
                if bar is not None:
                    bar.update(len(block))
            if bar is not None:
                bar.close()
        if digest.hexdigest() != expected:
            raise WeightsError(
                f"{url}: downloaded sha256 {digest.hexdigest()} does not match the preset's "
                f"{expected}; the download was discarded"
            )
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return target


def resolve_weights(name, file_name, sha256, shipped_dir=None, url=None, path=None, progress=True):
    """The verified local path of a preset's weights (see the module docstring)."""
    if path is not None:
        if not pathlib.Path(path).is_file():
            raise WeightsError(f"weights file {path} does not exist")
        return verify(path, sha256)
    if shipped_dir is not None and (pathlib.Path(shipped_dir) / file_name).is_file():
        return verify(pathlib.Path(shipped_dir) / file_name, sha256)
    cached = cache_root() / name / sha256[:16] / file_name
    if cached.is_file():
        return verify(cached, sha256)
    if url:
        return _download(url, cached, sha256, progress)
    raise WeightsError(
        f"no weights for {name!r}: not shipped with the package, not in the cache "
        f"({cached}), and the preset has no URL"
    )
