"""The ``circle`` command line: storage operations across every store, sync and check, local invocation of
each cloud's adapter, the emulators, rotation, probes and a doctor.

Not part of the function bundles (scripts/bundle.py ships ``core`` and one adapter only); its own
dependencies (click, rich) are the ``cli`` extra. Subcommand modules are imported only when their
command runs, so ``circle --help`` stays fast.
"""
