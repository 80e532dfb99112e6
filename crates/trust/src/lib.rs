//! Evidence for the chain of trust: RFC 9162 Merkle trees, batch headers, hash chains, dev PKI.
