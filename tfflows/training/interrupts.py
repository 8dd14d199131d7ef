"""Stopping a training run cleanly on Ctrl-C or SIGTERM (a scheduler's preemption notice).

The first signal only sets a flag; the training loop finishes the step it is in, saves a
checkpoint, writes the weights and the summary, and returns, so the same command resumes
exactly. A second signal interrupts at once (Python's default), for a run that hangs.
"""

import signal
import threading

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequest:
    """Context manager: `requested` turns True once SIGINT or SIGTERM arrives.

    Outside the main thread (where Python cannot install handlers) it does nothing.
    """

    def __init__(self):
        self.requested = False
        self.signal_name = None
        self._previous = {}

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        self.signal_name = signal.Signals(signum).name

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for s in SIGNALS:
                self._previous[s] = signal.signal(s, self._handle)
        return self

    def __exit__(self, *exc):
        for s, handler in self._previous.items():
            signal.signal(s, handler)
        self._previous = {}
        return False
