# Peer of the MMS client (crates/mms): libiec61850 1.6 as an IEC 61850 server, from PyPI.
pip_need pyiec61850.pyiec61850 pyiec61850-ng==1.6.1.10
# MMS over TLS (IEC 62351-4/-3): the same package's libiec61850 TLS server (TLSConfiguration,
# mbedtls inside) is the peer; tshark checks the TLS handshake on port 3782.
apt_need tshark
