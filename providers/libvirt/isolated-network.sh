#!/bin/sh
# isolated-network.sh URI NAME BRIDGE PREFIX: define and start, on the libvirt at URI, an isolated
# network (no forwarding: guests reach their host only) named NAME on bridge BRIDGE, with
# addresses PREFIX.0/24 (PREFIX like 192.168.213). Safe to run again.
set -eu
uri=$1 name=$2 bridge=$3 prefix=$4
if ! virsh -c "$uri" net-info "$name" >/dev/null 2>&1; then
    xml=$(mktemp)
    cat > "$xml" <<XML
<network>
  <name>$name</name>
  <bridge name='$bridge' stp='off'/>
  <ip address='$prefix.1' netmask='255.255.255.0'>
    <dhcp><range start='$prefix.10' end='$prefix.250'/></dhcp>
  </ip>
</network>
XML
    virsh -c "$uri" net-define "$xml" >/dev/null
    rm -f "$xml"
fi
virsh -c "$uri" net-info "$name" | grep -q 'Active: *yes' || virsh -c "$uri" net-start "$name" >/dev/null
