# Peer of the MMS client (crates/mms): libiec61850 1.6 as an IEC 61850 server, from PyPI.
pip_need pyiec61850.pyiec61850 pyiec61850-ng==1.6.1.10
