"""A c104 (lib60870) controlled station driven by tests/c104_interop.rs against our client.

Serves common address 1: IOA 10 single point (True), IOA 20 short float (1.5), IOA 100 single
command (direct). Prints READY once listening, CMD <value> when the command arrives. Reads
instructions from stdin: SPONT (IOA 20 := 2.5, sent spontaneously), QUIT.
"""
import sys
import time

import c104


def on_command(point: c104.Point, previous_info: c104.Information, message: c104.IncomingMessage) -> c104.ResponseState:
    print("CMD {}".format(point.value), flush=True)
    return c104.ResponseState.SUCCESS


def main() -> None:
    port = int(sys.argv[1])
    server = c104.Server(ip="127.0.0.1", port=port, tick_rate_ms=50)
    station = server.add_station(common_address=1)
    sp = station.add_point(io_address=10, type=c104.Type.M_SP_NA_1)
    sp.value = True
    mv = station.add_point(io_address=20, type=c104.Type.M_ME_NC_1)
    mv.value = 1.5
    cmd = station.add_point(io_address=100, type=c104.Type.C_SC_NA_1)
    cmd.on_receive(callable=on_command)
    server.start()
    deadline = time.monotonic() + 10
    while not server.is_running and time.monotonic() < deadline:
        time.sleep(0.02)
    print("READY", flush=True)
    for line in sys.stdin:
        line = line.strip()
        if line == "SPONT":
            mv.value = 2.5
            mv.transmit(cause=c104.Cot.SPONTANEOUS)
            print("SPONT_SENT", flush=True)
        elif line == "QUIT":
            break
    server.stop()


if __name__ == "__main__":
    main()
