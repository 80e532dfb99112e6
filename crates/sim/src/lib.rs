//! Simulated field devices: an IEC 104 substation RTU with feeders, breakers, a tap changer and an energy counter.
