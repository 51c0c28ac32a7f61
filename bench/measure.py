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


def run_heap(cmd, stdout=subprocess.DEVNULL, env=None, cwd=None):
    """Like `run_to`, also sampling the child's anonymous memory (`RssAnon`: its heap and
    stacks, not the pages of files it maps) every 50 ms. Returns (seconds, peak_rss_mib,
    peak_anon_mib): a store that maps its database file shows the mapped pages in the RSS,
    and the anonymous peak is what it really allocates."""
    import threading
    start = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=stdout, stderr=subprocess.PIPE)
    peak = [0]
    done = threading.Event()

    def sample():
        while not done.is_set():
            try:
                with open(f"/proc/{proc.pid}/status") as f:
                    for line in f:
                        if line.startswith("RssAnon:"):
                            peak[0] = max(peak[0], int(line.split()[1]))
            except OSError:
                pass
            done.wait(0.05)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    err_chunks = []
    reader = threading.Thread(target=lambda: err_chunks.append(proc.stderr.read()), daemon=True)
    reader.start()
    _, status, usage = os.wait4(proc.pid, 0)
    done.set()
    seconds = time.monotonic() - start
    reader.join()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(map(str, cmd))} failed:\n{b''.join(err_chunks).decode(errors='replace')}")
    return seconds, usage.ru_maxrss / 1024.0, peak[0] / 1024.0
