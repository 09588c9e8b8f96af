"""Where a cell runs. Every runner starts the probe in some environment and
hands its events to a callback; `host` uses the current interpreter."""
