# Web UI: browser tests run in Debian's Chromium, driven by npm playwright-core (never a
# downloaded browser). Node.js and npm come with the machine.
apt_need chromium
