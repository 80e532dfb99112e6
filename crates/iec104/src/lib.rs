//! IEC 60870-5-104 stack, sans-IO codec and state machines with a thin tokio driver.
