"""Run a command as a child process and report its wall time and peak memory.

Used by every benchmark so that Unico and the tool a user would otherwise pick are measured
the same way, side by side, in one run.
"""
import os
import subprocess
import time


def run(cmd, env=None, cwd=None, quiet=True):
    """Runs `cmd` (a list) and returns (seconds, peak_rss_mib). Raises on failure."""
    return run_to(cmd, subprocess.DEVNULL if quiet else None, env=env, cwd=cwd)


def run_to(cmd, stdout, env=None, cwd=None):
    """Like `run`, with the child's standard output going to `stdout` (an open file, or None)."""
    start = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=stdout, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.monotonic() - start
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(map(str, cmd))} failed:\n{err}")
    return seconds, usage.ru_maxrss / 1024.0
