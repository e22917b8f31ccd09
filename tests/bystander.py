"""A bystander for the event-loop lag tests (Python and Node packages): pinned to the CPU named by its
argument, it sleeps 1 ms at a time and, for every sleep it overslept by more than 5 ms beyond its own wait
for a CPU (Linux schedstat), prints "START END" (CLOCK_MONOTONIC seconds): the part of that sleep in which
its CPU ran nothing at all — not this process, not another one (it runs at real-time priority, so
another process running does not delay it). On a virtual machine that is the host not
running that virtual CPU (steal time); nothing inside the machine can cause it. The lag tests pin their
event loop's thread to one CPU and do not count the time that CPU's bystander reports. Runs until
terminated."""

import os
import sys
import time


def waited() -> float:
    with open("/proc/thread-self/schedstat") as f:
        return int(f.read().split()[1]) / 1e9


def main() -> None:
    os.sched_setaffinity(0, {int(sys.argv[1])})
    try:
        # Real-time priority: woken, it runs at once whatever else its CPU runs, so it is never left
        # waiting behind the process under test when the CPU stalls (a wait it would subtract). Needs
        # root or CAP_SYS_NICE; without it the windows are fewer, and the lag tests stricter.
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
    except (AttributeError, OSError):
        pass
    while True:
        t0, w0 = time.monotonic(), waited()
        time.sleep(0.001)
        t1, w1 = time.monotonic(), waited()
        stalled = t1 - t0 - 0.001 - (w1 - w0)
        if stalled > 0.005:
            # The sleep's own millisecond comes first, the wait for a CPU after the wake-up last.
            print(f"{t0 + 0.001:.6f} {t0 + 0.001 + stalled:.6f}", flush=True)


if __name__ == "__main__":
    main()
