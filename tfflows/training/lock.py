"""One training run per output folder.

Two runs writing the same checkpoints, weights and logs corrupt each other, so a run holds an
exclusive `fcntl.flock` on `OUT/train.lock` while it trains. The kernel releases the lock when
the process ends, however it ends (SIGKILL, a crash, a power-off of the process), so a lock
never outlives its run and nothing ever has to be cleaned by hand; the file itself stays and
names the last holder. Where `fcntl` does not exist (Windows) runs are not locked.
"""

import os
import pathlib
import socket
import sys

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

from tfflows.training.errors import RunLockedError

LOCK_FILE = "train.lock"


class RunLock:
    """Context manager holding `out_dir/train.lock` exclusively; raises `RunLockedError`
    naming the folder and the holder's pid when another process holds it."""

    def __init__(self, out_dir: str | os.PathLike):
        self.path = pathlib.Path(out_dir) / LOCK_FILE
        self._fd = None

    def __enter__(self) -> "RunLock":
        if fcntl is None:
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 200).decode(errors="replace").strip() or "a process"
            os.close(fd)
            raise RunLockedError(
                f"{self.path.parent} is in use by another training run ({holder}, holding "
                f"{self.path}); wait for it to end or stop it, or train into another folder "
                "(--out)"
            ) from None
        except OSError as error:  # a file system without locks (some network mounts)
            os.close(fd)
            print(
                f"warning: cannot lock {self.path} ({error}); make sure no other run uses "
                f"{self.path.parent}",
                file=sys.stderr,
            )
            return self
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode())
        self._fd = fd
        return self

    def __exit__(self, *exc) -> bool:
        if self._fd is not None:
            # The file stays: removing it would let a run that opened it just before lock a
            # file that a third run can no longer see.
            os.close(self._fd)  # closing the only descriptor releases the lock
            self._fd = None
        return False
