# Peers of the MQTT meter ingest (crates/mqtt): the Mosquitto broker (plain, mutual TLS,
# persistence across restarts) and the Eclipse Paho Python client as an independent publisher.
apt_need mosquitto
pip_need paho.mqtt paho-mqtt==2.1.0
