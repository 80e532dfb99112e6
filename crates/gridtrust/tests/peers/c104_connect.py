"""A c104 (lib60870-C) SCADA client that only tries to open a connection to the cc.

Usage: c104_connect.py PORT SECONDS
Connects to 127.0.0.1:PORT, sends STARTDT and reports, after at most SECONDS, whether data
transfer ever started: `opened=yes`, or `opened=no state=STATE` (the last state seen).
Exits 0 either way.
"""
import sys
import time

import c104

port, seconds = int(sys.argv[1]), float(sys.argv[2])
client = c104.Client()
conn = client.add_connection(ip="127.0.0.1", port=port, init=c104.Init.ALL)
conn.add_station(common_address=1)
client.start()
opened = False
muted_since = None
end = time.time() + seconds
while time.time() < end:
    state = conn.state
    if state == c104.ConnectionState.OPEN:
        opened = True
        break
    # c104 2.2.1 sometimes stays OPEN_MUTED without sending STARTDT act; unmute it then.
    if state == c104.ConnectionState.OPEN_MUTED:
        muted_since = muted_since or time.time()
        if time.time() - muted_since > 1:
            conn.unmute()
            muted_since = None
    else:
        muted_since = None
    time.sleep(0.05)
print("opened=yes" if opened else f"opened=no state={conn.state}", flush=True)
client.stop()
