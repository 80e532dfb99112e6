"""A meter publishing with Eclipse Paho (an MQTT client we did not write), QoS 1.

Usage:
  paho_meter.py HOST PORT CLIENT_ID files TOPIC=FILE [TOPIC=FILE ...]
      publishes each file's bytes on its topic, waits for every PUBACK, prints DONE n
  paho_meter.py HOST PORT CLIENT_ID numbered TOPIC COUNT INTERVAL_MS
      publishes {"time": t, "seq": i, "energy": {"import_wh": e}} for i in 0..COUNT with a
      persistent session (clean_session=False), queueing while the broker is away; prints
      PROGRESS i every 50 messages and DONE COUNT once the broker acknowledged all of them
"""
import json
import sys
import threading
import time

import paho.mqtt.client as mqtt


def client(host, port, client_id):
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False,
                    protocol=mqtt.MQTTv311)
    c.max_queued_messages_set(0)
    c.reconnect_delay_set(min_delay=1, max_delay=1)
    connected = threading.Event()
    c.on_connect = lambda *_: connected.set()
    # PUBACKs by message id. MQTTMessageInfo.is_published() raises for a message first
    # attempted while disconnected, although Paho sends it after reconnecting, so the
    # acknowledgements are counted here instead.
    c.acked = set()
    c.acked_lock = threading.Lock()

    def on_publish(client, _userdata, mid, _reason, _properties):
        with client.acked_lock:
            client.acked.add(mid)

    c.on_publish = on_publish
    c.connect(host, port, keepalive=30)
    c.loop_start()
    if not connected.wait(20):
        print("FAIL no CONNACK", flush=True)
        sys.exit(1)
    return c


def wait_all(c, infos, timeout_s):
    deadline = time.time() + timeout_s
    wanted = {info.mid for info in infos}
    while True:
        with c.acked_lock:
            missing = wanted - c.acked
        if not missing:
            return
        if time.time() > deadline:
            print(f"FAIL {len(missing)} messages not acknowledged in time", flush=True)
            sys.exit(1)
        time.sleep(0.01)


def main():
    host, port, client_id, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    c = client(host, port, client_id)
    infos = []
    if mode == "files":
        for spec in sys.argv[5:]:
            topic, path = spec.split("=", 1)
            with open(path, "rb") as f:
                infos.append(c.publish(topic, f.read(), qos=1))
    elif mode == "numbered":
        topic, count, interval = sys.argv[5], int(sys.argv[6]), int(sys.argv[7]) / 1000.0
        energy = 1_000_000.0
        for i in range(count):
            energy += 0.5
            payload = json.dumps({"time": time.time(), "seq": i, "energy": {"import_wh": energy}})
            # Accepted into Paho's queue also while the broker is away (rc NO_CONN): sent on
            # reconnection.
            infos.append(c.publish(topic, payload, qos=1))
            if i % 50 == 0:
                print(f"PROGRESS {i}", flush=True)
            time.sleep(interval)
    else:
        print(f"FAIL unknown mode {mode}", flush=True)
        sys.exit(2)
    wait_all(c, infos, 60)
    print(f"DONE {len(infos)}", flush=True)
    c.loop_stop()
    c.disconnect()


main()
