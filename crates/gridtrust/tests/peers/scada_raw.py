"""A SCADA front-end that speaks IEC 60870-5-104 as raw APDUs over Python's own TCP and TLS
(OpenSSL), an implementation we did not write. c104's TLS client fails every handshake, so the
cc's IEC 104 TLS server is tested with this instead.

Usage: scada_raw.py --port PORT [--source IP] [--tls CA CERT KEY] [--command IOA [--execute]]

Connects (TLS: presenting CERT/KEY, checking the cc's certificate against CA for the name
cc-1), sends STARTDT act and waits for its confirmation; with --command, selects a double
command OFF (C_DC_NA_1, S/E = 1) at IOA and, with --execute and a positive select, executes
it and waits for the termination. Prints one `key=value` line per finding:

  refused=REASON           the cc closed the connection or refused the TLS handshake
  started=yes              STARTDT confirmed
  select=positive|negative cot=N   the select's confirmation (cause of transmission N)
  execute=positive|negative cot=N
  terminated=yes           ACTTERM received

Exits 0 whenever it could report what happened, 1 on a protocol surprise or timeout.
"""
import argparse
import socket
import ssl
import struct
import sys

C_DC_NA_1 = 46
ACTIVATION, ACTCON, ACTTERM = 6, 7, 10
STARTDT_ACT, STARTDT_CON = 0x07, 0x0B
TESTFR_ACT, TESTFR_CON = 0x43, 0x83

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--source", default=None)
parser.add_argument("--tls", nargs=3, metavar=("CA", "CERT", "KEY"))
parser.add_argument("--command", type=int, default=None)
parser.add_argument("--execute", action="store_true")
args = parser.parse_args()


def report(line):
    print(line, flush=True)


class Refused(Exception):
    pass


sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
sock.settimeout(10)
if args.source:
    sock.bind((args.source, 0))
try:
    sock.connect(("127.0.0.1", args.port))
except OSError as e:
    report(f"refused=connect: {e}")
    sys.exit(0)

if args.tls:
    ca, cert, key = args.tls
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_verify_locations(ca)
    ctx.load_cert_chain(cert, key)
    try:
        sock = ctx.wrap_socket(sock, server_hostname="cc-1")
    except (ssl.SSLError, OSError) as e:
        report(f"refused=handshake: {e}")
        sys.exit(0)

received = 0  # I-frames received: our N(R)
sent = 0  # I-frames sent: our N(S)


def read_exact(n):
    buf = b""
    while len(buf) < n:
        try:
            chunk = sock.recv(n - len(buf))
        except (ssl.SSLError, ConnectionError) as e:
            # TLS 1.3: the server refuses a client certificate after the client's side of the
            # handshake finished, so the refusal arrives as an alert on the first read.
            raise Refused(f"{type(e).__name__}: {e}")
        if not chunk:
            raise Refused("connection closed by the cc")
        buf += chunk
    return buf


def read_apdu():
    """Returns (control octets, ASDU bytes or None); answers TESTFR and acknowledges I-frames."""
    global received
    while True:
        start, length = read_exact(2)
        if start != 0x68:
            raise RuntimeError(f"bad start octet {start:#x}")
        body = read_exact(length)
        control, asdu = body[:4], body[4:]
        if control[0] & 1 == 0:
            received += 1
            sock.sendall(bytes([0x68, 4, 0x01, 0]) + struct.pack("<H", (received % 32768) << 1))
            return control, asdu
        if control[0] == TESTFR_ACT:
            sock.sendall(bytes([0x68, 4, TESTFR_CON, 0, 0, 0]))
            continue
        return control, None


def send_asdu(asdu):
    global sent
    control = struct.pack("<HH", (sent % 32768) << 1, (received % 32768) << 1)
    sock.sendall(bytes([0x68, len(asdu) + 4]) + control + asdu)
    sent += 1


def double_command(ioa, select):
    # C_DC_NA_1, SQ=0 one object, COT activation (originator 0), CA 1, IOA, DCO: OFF (1), S/E.
    dco = 0x01 | (0x80 if select else 0)
    return bytes([C_DC_NA_1, 1, ACTIVATION, 0]) + struct.pack("<H", 1) + struct.pack("<I", ioa)[:3] + bytes([dco])


def confirmation(ioa, cause):
    """Waits for the command's confirmation with `cause`; returns (negative, cot)."""
    while True:
        _, asdu = read_apdu()
        if asdu is None or len(asdu) < 10 or asdu[0] != C_DC_NA_1:
            continue
        cot = asdu[2] & 0x3F
        negative = bool(asdu[2] & 0x40)
        obj_ioa = int.from_bytes(asdu[6:9], "little")
        if obj_ioa == ioa and (cot == cause or negative):
            return negative, cot


try:
    sock.sendall(bytes([0x68, 4, STARTDT_ACT, 0, 0, 0]))
    while True:
        control, _ = read_apdu()
        if control[0] == STARTDT_CON:
            break
    report("started=yes")
    if args.command is not None:
        send_asdu(double_command(args.command, True))
        negative, cot = confirmation(args.command, ACTCON)
        report(f"select={'negative' if negative else 'positive'} cot={cot}")
        if args.execute and not negative:
            send_asdu(double_command(args.command, False))
            negative, cot = confirmation(args.command, ACTCON)
            report(f"execute={'negative' if negative else 'positive'} cot={cot}")
            if not negative:
                confirmation(args.command, ACTTERM)
                report("terminated=yes")
except Refused as e:
    report(f"refused={e}")
except socket.timeout:
    report("error=timeout")
    sys.exit(1)
sock.close()
