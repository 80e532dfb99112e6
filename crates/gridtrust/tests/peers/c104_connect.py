"""A c104 (lib60870-C) SCADA client that only tries to open a connection to the cc.

Usage: c104_connect.py PORT SECONDS
Connects to 127.0.0.1:PORT, sends STARTDT and reports, after at most SECONDS, whether data
transfer ever started: `opened=yes`, or `opened=no state=STATE` (the last state seen). Exits 0
either way.

c104 2.2.1 crashes (SIGSEGV) when a server closes the connection right after accepting it,
as the cc does to an address outside its allow-list (a delay of 10 ms before closing avoids
it). The client therefore runs in a child process, and a crash is reported as
`opened=no state=crashed`.
"""
import multiprocessing
import sys
import time

port, seconds = int(sys.argv[1]), float(sys.argv[2])
OPENED, NOT_OPENED = 10, 11


def run():
    import c104

    client = c104.Client()
    conn = client.add_connection(ip="127.0.0.1", port=port, init=c104.Init.ALL)
    conn.add_station(common_address=1)
    client.start()
    muted_since = None
    end = time.time() + seconds
    while time.time() < end:
        state = conn.state
        if state == c104.ConnectionState.OPEN:
            print("opened=yes", flush=True)
            client.stop()
            sys.exit(OPENED)
        # c104 2.2.1 sometimes stays OPEN_MUTED without sending STARTDT act; unmute it then.
        if state == c104.ConnectionState.OPEN_MUTED:
            muted_since = muted_since or time.time()
            if time.time() - muted_since > 1:
                conn.unmute()
                muted_since = None
        else:
            muted_since = None
        time.sleep(0.05)
    print(f"opened=no state={conn.state}", flush=True)
    client.stop()
    sys.exit(NOT_OPENED)


if __name__ == "__main__":
    child = multiprocessing.get_context("fork").Process(target=run)
    child.start()
    child.join(seconds + 10)
    if child.exitcode is None:
        child.kill()
        print("error=c104 client hung", flush=True)
        sys.exit(1)
    if child.exitcode < 0:
        print(f"opened=no state=crashed (signal {-child.exitcode})", flush=True)
    elif child.exitcode not in (OPENED, NOT_OPENED):
        print(f"error=c104 client exited with {child.exitcode}", flush=True)
        sys.exit(1)
