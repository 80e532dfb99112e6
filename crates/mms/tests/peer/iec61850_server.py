#!/usr/bin/env python3
"""A libiec61850 server (PyPI pyiec61850-ng) for the MMS interop tests.

The model is built with libiec61850's dynamic model API and follows simpleIO_direct_control.cid
(LD GenericIO: LLN0, LPHD1, GGIO1 with AnIn1..4, SPCSO1..4, Ind1..4; data sets Events and
Measurements; URCB EventsRCB, BRCB EventsBRCB, buffered indexed Measurements with entryID) with
the control models of simpleIO_control_tests.cid on SPCSO1..4 and SPCSO8:
  SPCSO1 direct-with-normal-security, SPCSO2 sbo-with-normal-security,
  SPCSO3 direct-with-enhanced-security, SPCSO4 sbo-with-enhanced-security,
  SPCSO8 sbo-with-enhanced-security whose execution always fails with AddCause
  blocked-by-process (9), to show CommandTermination- with LastApplError.
SPCSO3's check refuses ctlVal=false with AddCause blocked-by-interlocking (Oper write error +
LastApplError).

Usage: iec61850_server.py PORT [--tls CA CRL CERT KEY [--tls-version 1.2|1.3]]. Binds 127.0.0.1
only. With --tls the server speaks MMS over TLS (IEC 62351-4 / -3) through libiec61850's own
TLSConfiguration (mbedtls inside): it presents CERT/KEY, requires a client certificate, validates
it against CA (chain validation on, "only known certificates" off), refuses those in CRL and
keeps sessions for resumption (one hour);
--tls-version pins the protocol version (min = max), otherwise TLS 1.2 and 1.3 are offered. Prints "READY" when listening, then reads
commands from stdin, one per line, answering "OK" or "ERR ...":
  float REF VALUE    (e.g. "float GenericIO/GGIO1.AnIn1.mag.f 12.5")
  bool REF 0|1
  quality REF BITS   (libiec61850 Quality as an integer, e.g. 2 = invalid, 130 = invalid + oldData)
Exits when stdin closes.
"""
import sys
import time

import pyiec61850  # noqa: F401  (loads the bundled library)
import pyiec61850.pyiec61850 as iec

ADD_CAUSE_BLOCKED_BY_INTERLOCKING = iec.ADD_CAUSE_BLOCKED_BY_INTERLOCKING  # 10
ADD_CAUSE_BLOCKED_BY_PROCESS = iec.ADD_CAUSE_BLOCKED_BY_PROCESS  # 9


def build_model():
    model = iec.IedModel_create("simpleIO")
    ld = iec.LogicalDevice_create("GenericIO", model)
    lln0 = iec.LogicalNode_create("LLN0", ld)
    iec.CDC_ENC_create("Mod", iec.toModelNode(lln0), 0, iec.CDC_CTL_MODEL_NONE) if hasattr(iec, "CDC_ENC_create") else None
    iec.CDC_ENS_create("Beh", iec.toModelNode(lln0), 0)
    iec.CDC_ENS_create("Health", iec.toModelNode(lln0), 0)
    lphd = iec.LogicalNode_create("LPHD1", ld)
    iec.CDC_ENS_create("PhyHealth", iec.toModelNode(lphd), 0)
    ggio = iec.LogicalNode_create("GGIO1", ld)
    parent = iec.toModelNode(ggio)
    iec.CDC_ENS_create("Beh", parent, 0)
    for i in range(1, 5):
        iec.CDC_MV_create(f"AnIn{i}", parent, 0, False)
    models = {
        1: iec.CDC_CTL_MODEL_DIRECT_NORMAL,
        2: iec.CDC_CTL_MODEL_SBO_NORMAL,
        3: iec.CDC_CTL_MODEL_DIRECT_ENHANCED,
        4: iec.CDC_CTL_MODEL_SBO_ENHANCED,
        8: iec.CDC_CTL_MODEL_SBO_ENHANCED,
    }
    for i, ctl in models.items():
        iec.CDC_SPC_create(f"SPCSO{i}", parent, 0, ctl | iec.CDC_CTL_MODEL_HAS_CANCEL)
    for i in range(1, 5):
        iec.CDC_SPS_create(f"Ind{i}", parent, 0)

    events = iec.DataSet_create("Events", lln0)
    for i in range(1, 5):
        iec.DataSetEntry_create(events, f"GGIO1$ST$SPCSO{i}$stVal", -1, None)
    events2 = iec.DataSet_create("Events2", lln0)
    for i in range(1, 5):
        iec.DataSetEntry_create(events2, f"GGIO1$ST$SPCSO{i}", -1, None)
    meas = iec.DataSet_create("Measurements", lln0)
    for i in range(1, 5):
        iec.DataSetEntry_create(meas, f"GGIO1$MX$AnIn{i}$mag$f", -1, None)
        iec.DataSetEntry_create(meas, f"GGIO1$MX$AnIn{i}$q", -1, None)

    trg = iec.TRG_OPT_DATA_CHANGED | iec.TRG_OPT_QUALITY_CHANGED | iec.TRG_OPT_INTEGRITY | iec.TRG_OPT_GI
    opts = iec.RPT_OPT_SEQ_NUM | iec.RPT_OPT_TIME_STAMP | iec.RPT_OPT_DATA_SET | iec.RPT_OPT_REASON_FOR_INCLUSION | iec.RPT_OPT_CONF_REV
    iec.ReportControlBlock_create("EventsRCB01", lln0, "Events1", False, "Events", 1, trg, opts, 50, 1000)
    iec.ReportControlBlock_create("EventsBRCB01", lln0, "Events2", True, "Events2", 1, trg, opts | iec.RPT_OPT_ENTRY_ID, 50, 1000)
    iec.ReportControlBlock_create("Measurements01", lln0, "Measurements", True, "Measurements", 1, trg, opts | iec.RPT_OPT_ENTRY_ID, 50, 1000)
    return model


class Operate(iec.ControlHandlerForPython):
    """Executes a control: sets stVal (or fails, for the object that always fails)."""

    def __init__(self, server, model, ref, fail):
        iec.ControlHandlerForPython.__init__(self)
        self.server, self.model, self.ref, self.fail = server, model, ref, fail

    def trigger(self):
        if self.fail:
            iec.ControlAction_setAddCause(self._libiec61850_control_action, ADD_CAUSE_BLOCKED_BY_PROCESS)
            self._libiec61850_control_handler_result = iec.CONTROL_RESULT_FAILED
            return
        value = iec.MmsValue_getBoolean(self._libiec61850_mms_value)
        node = iec.toDataAttribute(iec.IedModel_getModelNodeByObjectReference(self.model, self.ref + ".stVal"))
        iec.IedServer_updateBooleanAttributeValue(self.server, node, value)
        self._libiec61850_control_handler_result = iec.CONTROL_RESULT_OK


class Check(iec.CheckHandlerForPython):
    """Refuses ctlVal=false on Oper (interlocking), accepts everything else."""

    def __init__(self):
        iec.CheckHandlerForPython.__init__(self)

    def trigger(self):
        action = self._libiec61850_control_action
        value = iec.MmsValue_getBoolean(self._libiec61850_mms_value)
        if not value and not iec.ControlAction_isSelect(action):
            iec.ControlAction_setAddCause(action, ADD_CAUSE_BLOCKED_BY_INTERLOCKING)
            self._libiec61850_check_handler_result = iec.CONTROL_OBJECT_ACCESS_DENIED
        else:
            self._libiec61850_check_handler_result = iec.CONTROL_ACCEPTED


def stamp_time(server, model, ref):
    """Sets the t of the data object holding REF to now, as an IED does with every change."""
    parts = ref.split(".")
    while len(parts) > 1:
        parts.pop()
        node = iec.IedModel_getModelNodeByObjectReference(model, ".".join(parts) + ".t")
        if node is not None:
            iec.IedServer_updateUTCTimeAttributeValue(server, iec.toDataAttribute(node), int(time.time() * 1000))
            return


def tls_configuration(args):
    """libiec61850's TLSConfiguration from --tls CA CRL CERT KEY [--tls-version V]."""
    ca, crl, cert, key = args[1:5]
    conf = iec.TLSConfiguration_create()
    checks = [
        iec.TLSConfiguration_setOwnCertificateFromFile(conf, cert),
        iec.TLSConfiguration_setOwnKeyFromFile(conf, key, None),
        iec.TLSConfiguration_addCACertificateFromFile(conf, ca),
        iec.TLSConfiguration_addCRLFromFile(conf, crl),
    ]
    if not all(checks):
        raise SystemExit(f"ERR TLS files not accepted by libiec61850: {checks}")
    iec.TLSConfiguration_setChainValidation(conf, True)
    iec.TLSConfiguration_setAllowOnlyKnownCertificates(conf, False)
    iec.TLSConfiguration_enableSessionResumption(conf, True)
    iec.TLSConfiguration_setSessionResumptionInterval(conf, 3600)
    if "--tls-version" in args:
        version = {"1.2": iec.TLS_VERSION_TLS_1_2, "1.3": iec.TLS_VERSION_TLS_1_3}[args[args.index("--tls-version") + 1]]
        iec.TLSConfiguration_setMinTlsVersion(conf, version)
        iec.TLSConfiguration_setMaxTlsVersion(conf, version)
    return conf


def main():
    port = int(sys.argv[1])
    model = build_model()
    rest = sys.argv[2:]
    if rest[:1] == ["--tls"]:
        server = iec.IedServer_createWithTlsSupport(model, tls_configuration(rest))
    else:
        server = iec.IedServer_create(model)
    iec.IedServer_setLocalIpAddress(server, "127.0.0.1")
    keep = []
    for i, fail in [(1, False), (2, False), (3, False), (4, False), (8, True)]:
        ref = f"simpleIOGenericIO/GGIO1.SPCSO{i}"
        sub = iec.ControlSubscriberForPython()
        sub.setIedServer(server)
        sub.setControlObject(iec.toDataObject(iec.IedModel_getModelNodeByObjectReference(model, ref)))
        handler = Operate(server, model, ref, fail)
        sub.setControlHandler(handler)
        if i == 3:
            check = Check()
            sub.setCheckHandler(check)
            keep.append(check)
        sub.subscribe()
        keep += [sub, handler]
    iec.IedServer_start(server, port)
    if not iec.IedServer_isRunning(server):
        print("ERR not running", flush=True)
        sys.exit(1)
    print("READY", flush=True)
    for line in sys.stdin:
        parts = line.split()
        try:
            kind, ref, value = parts
            node = iec.toDataAttribute(iec.IedModel_getModelNodeByObjectReference(model, ref))
            if node is None:
                raise ValueError(f"no attribute {ref}")
            iec.IedServer_lockDataModel(server)
            if kind == "float":
                iec.IedServer_updateFloatAttributeValue(server, node, float(value))
            elif kind == "bool":
                iec.IedServer_updateBooleanAttributeValue(server, node, value == "1")
            elif kind == "quality":
                iec.IedServer_updateQuality(server, node, int(value))
            else:
                raise ValueError(f"unknown command {kind}")
            stamp_time(server, model, ref)
            iec.IedServer_unlockDataModel(server)
            print("OK", flush=True)
        except Exception as e:  # report and keep serving
            print(f"ERR {e}", flush=True)
    iec.IedServer_stop(server)
    iec.IedServer_destroy(server)
    time.sleep(0)


if __name__ == "__main__":
    main()
