"""A c104 (lib60870) controlling station driven by tests/c104_interop.rs against our server.

Protocol with the test on stdout/stdin, one word per line:
  prints OPEN, GI_OK <sp> <mv>, waits for SPONT, prints SPONT_OK <mv>, prints CMD_OK / CMD_FAIL.
Any failure prints FAIL <reason> and exits non-zero.
"""
import sys
import time

import c104


def fail(reason: str) -> None:
    print("FAIL " + reason, flush=True)
    sys.exit(1)


def wait_for(pred, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.02)
    fail("timeout waiting for " + what)


def on_send_raw(connection: c104.Connection, data: bytes) -> None:
    print("c104 client -> {}".format(data.hex()), file=sys.stderr, flush=True)


RECEIVED_CAUSES = set()


def on_receive_raw(connection: c104.Connection, data: bytes) -> None:
    print("c104 client <- {}".format(data.hex()), file=sys.stderr, flush=True)
    # Remember (type id, cause, negative) of every I-frame, to check confirmations on the wire.
    if len(data) > 8 and data[2] & 0x01 == 0:
        RECEIVED_CAUSES.add((data[6], data[8] & 0x3F, bool(data[8] & 0x40)))


def on_state_change(connection: c104.Connection, state: c104.ConnectionState) -> None:
    print("c104 client state {}".format(state), file=sys.stderr, flush=True)


def main() -> None:
    port = int(sys.argv[1])
    client = c104.Client(tick_rate_ms=50, command_timeout_ms=5000)
    conn = client.add_connection(ip="127.0.0.1", port=port, init=c104.Init.NONE)
    conn.on_send_raw(callable=on_send_raw)
    conn.on_receive_raw(callable=on_receive_raw)
    conn.on_state_change(callable=on_state_change)
    station = conn.add_station(common_address=1)
    sp = station.add_point(io_address=10, type=c104.Type.M_SP_NA_1)
    mv = station.add_point(io_address=20, type=c104.Type.M_ME_NC_1)
    cmd = station.add_point(io_address=100, type=c104.Type.C_SC_NA_1,
                            command_mode=c104.CommandMode.SELECT_AND_EXECUTE)
    client.start()
    wait_for(lambda: conn.state in (c104.ConnectionState.OPEN, c104.ConnectionState.OPEN_MUTED),
             10, "TCP connection")
    # c104 2.2.1 sometimes stays OPEN_MUTED without ever sending STARTDT act (no bytes leave it
    # at all, so the server cannot be the cause); unmuting sends the STARTDT act.
    deadline = time.monotonic() + 1
    while conn.state != c104.ConnectionState.OPEN and time.monotonic() < deadline:
        time.sleep(0.02)
    if conn.state == c104.ConnectionState.OPEN_MUTED:
        print("c104 client stayed muted; unmuting", file=sys.stderr, flush=True)
        conn.unmute()
    wait_for(lambda: conn.state == c104.ConnectionState.OPEN, 10, "OPEN")
    print("OPEN", flush=True)

    # c104 2.2.1 occasionally reports False here although the positive ACTCON arrived (a race
    # with fast answers), so the confirmation and termination are checked on the wire instead.
    confirmed = conn.interrogation(common_address=1, cause=c104.Cot.ACTIVATION,
                                   qualifier=c104.Qoi.STATION, wait_for_response=True)
    print("c104 interrogation() returned {}".format(confirmed), file=sys.stderr, flush=True)
    wait_for(lambda: (100, 7, False) in RECEIVED_CAUSES, 5, "GI ACTCON")
    wait_for(lambda: (100, 10, False) in RECEIVED_CAUSES, 5, "GI ACTTERM")
    wait_for(lambda: sp.value is True and mv.value is not None and abs(mv.value - 1.5) < 1e-6,
             5, "GI values")
    print("GI_OK {} {}".format(sp.value, mv.value), flush=True)

    line = sys.stdin.readline().strip()
    if line != "SPONT":
        fail("unexpected instruction " + line)
    wait_for(lambda: abs(mv.value - 2.5) < 1e-6, 5, "spontaneous value")
    print("SPONT_OK {}".format(mv.value), flush=True)

    cmd.value = True
    if cmd.transmit(cause=c104.Cot.ACTIVATION):
        print("CMD_OK", flush=True)
    else:
        print("CMD_FAIL", flush=True)

    sys.stdin.readline()
    client.stop()


if __name__ == "__main__":
    main()
