"""A c104 (lib60870) controlling station that reads a burst of packed spontaneous ASDUs from our
server (tests/c104_interop.rs): 200 floats at consecutive addresses 1000..1199 (SQ=1 ASDUs) and
single points at 10, 12, .., 28 (one SQ=0 ASDU).

Protocol on stdout/stdin: prints OPEN, waits for GO, prints PACKED_OK <floats> <singles> when every
value arrived as sent (float at IOA a = a / 2, single at 10 + 2i = i odd), else FAIL <reason>.
"""
import sys
import time

import c104


def fail(reason: str) -> None:
    print("FAIL " + reason, flush=True)
    sys.exit(1)


def main() -> None:
    port = int(sys.argv[1])
    client = c104.Client(tick_rate_ms=50, command_timeout_ms=5000)
    conn = client.add_connection(ip="127.0.0.1", port=port, init=c104.Init.NONE)
    station = conn.add_station(common_address=1)
    floats = {a: station.add_point(io_address=a, type=c104.Type.M_ME_NC_1) for a in range(1000, 1200)}
    singles = {10 + 2 * i: station.add_point(io_address=10 + 2 * i, type=c104.Type.M_SP_NA_1) for i in range(10)}
    client.start()
    deadline = time.monotonic() + 10
    while conn.state != c104.ConnectionState.OPEN and time.monotonic() < deadline:
        if conn.state == c104.ConnectionState.OPEN_MUTED:
            conn.unmute()
        time.sleep(0.02)
    if conn.state != c104.ConnectionState.OPEN:
        fail("not OPEN")
    print("OPEN", flush=True)
    if sys.stdin.readline().strip() != "GO":
        fail("expected GO")

    def floats_ok():
        return sum(1 for a, p in floats.items() if p.value is not None and abs(p.value - a / 2) < 1e-6)

    def singles_ok():
        return sum(1 for a, p in singles.items() if p.value is ((a - 10) // 2 % 2 == 1))

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (floats_ok() < len(floats) or singles_ok() < len(singles)):
        time.sleep(0.05)
    if floats_ok() < len(floats) or singles_ok() < len(singles):
        fail("got {} of {} floats and {} of {} singles".format(floats_ok(), len(floats), singles_ok(), len(singles)))
    print("PACKED_OK {} {}".format(floats_ok(), singles_ok()), flush=True)
    sys.stdin.readline()
    client.stop()


main()
