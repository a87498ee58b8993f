"""Loaded only in processes that bench/profile_turns.py starts (PYTHONPATH): SIGUSR1 starts
cProfile on the event-loop thread, SIGUSR2 stops it and writes $PZ_PROFILE_OUT, so the
profile covers the measured turns and not the start-up."""

import os

if os.environ.get("PZ_PROFILE_OUT"):
    import cProfile
    import signal

    _profiler = cProfile.Profile()

    def _start(signum, frame):
        _profiler.enable()

    def _stop(signum, frame):
        _profiler.disable()
        _profiler.dump_stats(os.environ["PZ_PROFILE_OUT"])

    signal.signal(signal.SIGUSR1, _start)
    signal.signal(signal.SIGUSR2, _stop)
