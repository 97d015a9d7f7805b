"""The Chromium the browser tests (and tests that open their own browser) launch: the
system's binary, with the switches that keep it quiet and working in a container."""

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
