"""A c104 (lib60870, mbedtls) RTU that speaks IEC 104 over mutual TLS 1.3 only, driven by
tests/attacks_revocation.rs against the edge's southbound TLS client.

Usage: c104_tls_rtu.py PORT CERT KEY CA. Presents CERT/KEY, requires a client certificate issued by
CA, serves common address 1 with IOA 1 short float 1.5. Prints READY once listening; QUIT on stdin
stops it.
"""
import sys
import time

import c104


def main() -> None:
    port, cert, key, ca = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    tls = c104.TransportSecurity(validate=True, only_known=False)
    tls.set_certificate(cert=cert, key=key)
    tls.set_ca_certificate(cert=ca)
    tls.set_version(min=c104.TlsVersion.TLS_1_3, max=c104.TlsVersion.TLS_1_3)
    server = c104.Server(ip="127.0.0.1", port=port, tick_rate_ms=50, transport_security=tls)
    station = server.add_station(common_address=1)
    mv = station.add_point(io_address=1, type=c104.Type.M_ME_NC_1)
    mv.value = 1.5
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
