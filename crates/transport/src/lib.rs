//! Messages between the roles (edge, hub, cc) and the mTLS stream that carries them.
