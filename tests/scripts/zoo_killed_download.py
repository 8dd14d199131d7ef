"""Starts downloading a preset's weights into the cache and SIGKILLs itself in the middle:
the first block has been read from the URL and the temporary file exists in the cache, the
second read kills the process. Leaves what a killed download leaves behind.

    python zoo_killed_download.py NAME FILE_NAME SHA256 URL      (TFFLOWS_HOME set by the caller)
"""

import os
import signal
import sys
import urllib.request

os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"

from tfflows.zoo.weights import resolve_weights  # noqa: E402

name, file_name, sha256, url = sys.argv[1:5]
real_open = urllib.request.OpenerDirector.open


class DiesOnSecondRead:
    def __init__(self, response):
        self.response, self.reads = response, 0
        self.headers = response.headers

    def read(self, size=-1):
        self.reads += 1
        if self.reads == 2:
            os.kill(os.getpid(), signal.SIGKILL)
        return self.response.read(min(size, 4096))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.response.close()


def open_and_die_later(self, *args, **kwargs):
    return DiesOnSecondRead(real_open(self, *args, **kwargs))


urllib.request.OpenerDirector.open = open_and_die_later
resolve_weights(name, file_name, sha256, url=url, progress=False)
print("the download was not interrupted")
sys.exit(3)
