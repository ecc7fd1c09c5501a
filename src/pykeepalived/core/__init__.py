"""Protocol core: packets, state machine and timers, free of I/O."""
