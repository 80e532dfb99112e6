# The fault-injection harness (crates/faults): libfaketime steps each role's wall clock by an
# hour while it runs. (Disk-full faults mount small tmpfs folders: CI runs as root.)
apt_need faketime
