# Peers of the Modbus/SunSpec crate: pymodbus serves a SunSpec map to our adapter, mbpoll
# (libmodbus) reads and writes our simulator, tshark checks our frames with its mbtcp dissector.
apt_need mbpoll tshark
pip_need pymodbus pymodbus==3.8.6
