//! The control-centre connector: an IEC 104 server for SCADA fed by re-verified field evidence.
