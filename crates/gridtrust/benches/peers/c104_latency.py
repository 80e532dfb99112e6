"""External reference for the chain benchmark: a c104 (lib60870-C) client that receives
spontaneous floats and prints, per received value, `value receive_time_ns`.

Usage: c104_latency.py PORT POINTS SECONDS
"""
import sys
import time

import c104

port, points, seconds = (int(a) for a in sys.argv[1:4])
client = c104.Client()
conn = client.add_connection(ip="127.0.0.1", port=port, init=c104.Init.ALL)
station = conn.add_station(common_address=1)
seen = []


def on_receive(point: c104.Point, previous_info: c104.Information, message: c104.IncomingMessage) -> c104.ResponseState:
    seen.append((point.value, time.time_ns()))
    return c104.ResponseState.SUCCESS


for ioa in range(1, points + 1):
    p = station.add_point(io_address=ioa, type=c104.Type.M_ME_TF_1)
    p.on_receive(callable=on_receive)
client.start()
end = time.time() + 10
while conn.state != c104.ConnectionState.OPEN and time.time() < end:
    if conn.state == c104.ConnectionState.OPEN_MUTED and time.time() > end - 9:
        conn.unmute()  # c104 2.2.1 sometimes never sends STARTDT act by itself
    time.sleep(0.01)
print("ready", flush=True)
time.sleep(seconds)
client.stop()
for v, t in seen:
    print(f"{int(v)} {t}")
print("done", flush=True)
