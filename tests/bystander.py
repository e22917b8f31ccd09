"""A bystander for the event-loop lag tests (Python and Node packages): pinned to the CPU named by its
argument, it sleeps 1 ms at a time and prints "START END" (CLOCK_MONOTONIC seconds) for every sleep it
overslept by more than 5 ms beyond its own wait for a CPU (Linux schedstat) — a window in which that CPU
ran nothing at all; on a virtual machine, the host not running it. A window every CPU's bystander saw is
the whole machine's stall, which nothing in the process under test can cause. Runs until terminated."""

import os
import sys
import time


def waited() -> float:
    with open("/proc/thread-self/schedstat") as f:
        return int(f.read().split()[1]) / 1e9


def main() -> None:
    os.sched_setaffinity(0, {int(sys.argv[1])})
    while True:
        t0, w0 = time.monotonic(), waited()
        time.sleep(0.001)
        t1, w1 = time.monotonic(), waited()
        if t1 - t0 - 0.001 - (w1 - w0) > 0.005:
            print(f"{t0:.6f} {t1:.6f}", flush=True)


if __name__ == "__main__":
    main()
