"""A SCADA front-end made with c104 (lib60870-C inside), an implementation we did not write.

Usage: c104_scada.py PORT MEASUREMENT_IOA POSITION_IOA COMMAND_IOA
Connects to gridtrust's cc, waits for interrogated values, opens a breaker with
select-before-operate and waits until the position reported back is OFF. Prints one
`key=value` line per finding and exits 0 on success.
"""
import sys
import time

import c104

port, meas_ioa, pos_ioa, cmd_ioa = (int(a) for a in sys.argv[1:5])
client = c104.Client()
conn = client.add_connection(ip="127.0.0.1", port=port, init=c104.Init.ALL)
station = conn.add_station(common_address=1)
meas = station.add_point(io_address=meas_ioa, type=c104.Type.M_ME_TF_1)
pos = station.add_point(io_address=pos_ioa, type=c104.Type.M_DP_TB_1)
cmd = station.add_point(io_address=cmd_ioa, type=c104.Type.C_DC_NA_1)
cmd.command_mode = c104.CommandMode.SELECT_AND_EXECUTE
client.start()


def wait(pred, seconds):
    end = time.time() + seconds
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.05)
    return False


# c104 2.2.1 sometimes stays OPEN_MUTED without ever sending STARTDT act; unmute it then.
wait(lambda: conn.state in (c104.ConnectionState.OPEN, c104.ConnectionState.OPEN_MUTED), 10)
if not wait(lambda: conn.state == c104.ConnectionState.OPEN, 1) and conn.state == c104.ConnectionState.OPEN_MUTED:
    conn.unmute()
if not wait(lambda: conn.state == c104.ConnectionState.OPEN, 10):
    print(f"error=connection did not open ({conn.state})", flush=True)
    sys.exit(1)
if not wait(lambda: meas.value > 0.5 and meas.quality.is_good(), 15):
    print(f"error=no good measurement (value={meas.value} quality={meas.quality})", flush=True)
    sys.exit(1)
print(f"measurement={meas.value}", flush=True)
if not wait(lambda: pos.value == c104.Double.ON, 10):
    print(f"error=breaker not reported closed ({pos.value})", flush=True)
    sys.exit(1)
cmd.value = c104.Double.OFF
ok = cmd.transmit(cause=c104.Cot.ACTIVATION)
print(f"command_confirmed={ok}", flush=True)
if not ok:
    sys.exit(1)
if not wait(lambda: pos.value == c104.Double.OFF, 10):
    print(f"error=breaker position did not change ({pos.value})", flush=True)
    sys.exit(1)
print("position=OFF", flush=True)
client.stop()
