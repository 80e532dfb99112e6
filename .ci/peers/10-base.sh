# Peers of the spine and the chain of trust: tshark (wire check), c104 (IEC 104), SoftHSM2,
# pkcs11-tool and openssl (HSM and PKI interop).
apt_need tshark softhsm2 opensc openssl
pip_need c104 c104
