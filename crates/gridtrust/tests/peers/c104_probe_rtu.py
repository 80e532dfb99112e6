"""A c104 (lib60870) RTU with two stations for `gridtrust probe iec104`, driven by tests/probe.rs.

Usage: c104_probe_rtu.py PORT. Common address 1: IOA 10 single point (on), IOA 20 short float
(1.5), IOA 30 double point (off, marked invalid); common address 2: IOA 20 scaled value (42).
Prints READY once listening; QUIT on stdin (or its end) stops it.
"""
import sys
import time

import c104


def main() -> None:
    port = int(sys.argv[1])
    server = c104.Server(ip="127.0.0.1", port=port, tick_rate_ms=50)
    one = server.add_station(common_address=1)
    one.add_point(io_address=10, type=c104.Type.M_SP_NA_1).value = True
    one.add_point(io_address=20, type=c104.Type.M_ME_NC_1).value = 1.5
    dp = one.add_point(io_address=30, type=c104.Type.M_DP_NA_1)
    dp.value = c104.Double.OFF
    dp.quality = c104.Quality.Invalid
    two = server.add_station(common_address=2)
    two.add_point(io_address=20, type=c104.Type.M_ME_NB_1).value = c104.Int16(42)
    server.start()
    deadline = time.monotonic() + 10
    while not server.is_running and time.monotonic() < deadline:
        time.sleep(0.02)
    print("READY", flush=True)
    for line in sys.stdin:
        if line.strip() == "QUIT":
            break
    server.stop()


if __name__ == "__main__":
    main()
