"""The ``--serve`` server's keeper on Linux, run as ``python -m fastpose.viewer.keeper PARENT_PID
RERUN_ARGV...`` (fastpose.viewer.serve): the server ends with fastpose even if fastpose is killed
(SIGKILL), and no Python runs between fork and exec in fastpose's threaded process. It forks the
server with PR_SET_PDEATHSIG (1, kept across exec) aimed at itself: single-threaded, it can't lose
the thread that PR_SET_PDEATHSIG follows (fastpose's starting thread may end first). It watches
fastpose (a pidfd, else its parent pid), passes SIGTERM on, and ends as the server does.

The standard library only: it runs with ``-I -S`` and imports nothing else, not even its package's
``__init__`` beyond fastpose.viewer's (which imports nothing).
"""

import ctypes
import os
import select
import signal
import sys


def main(parent: int, argv: list[str]) -> int:
    """Run ``argv`` as the server; end it when ``parent`` ends; its exit status."""
    libc = ctypes.CDLL(None, use_errno=True)
    try:
        watch = [os.pidfd_open(parent)]
    except (AttributeError, OSError):
        watch = []
    keeper = os.getpid()
    child = os.fork()
    if child == 0:
        libc.prctl(1, signal.SIGTERM)
        if os.getppid() != keeper:
            os._exit(1)
        os.execv(argv[0], argv)
        os._exit(127)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _: os.kill(child, signum))
    while True:
        if select.select(watch, [], [], 0.5)[0] or os.getppid() != parent:
            os.kill(child, signal.SIGTERM)
        pid, status = os.waitpid(child, os.WNOHANG)
        if pid:
            code = os.waitstatus_to_exitcode(status)
            return 128 - code if code < 0 else code


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]), sys.argv[2:]))
