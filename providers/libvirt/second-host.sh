#!/bin/sh
# A second libvirt host on this machine, shaped like a remote hypervisor: its own network
# namespace (reached only at 10.231.0.2, over a veth pair), its own mount namespace (its
# libvirt state, config, sockets, logs and pool on tmpfs that nothing outside sees, so a client
# can reach its files only through libvirt), its own libvirtd, virtlogd and sshd, and guests on
# its own isolated network. The pool's tmpfs is small (CLOUDVM_HV2_POOL_SIZE, 3G by default), so
# the host can be made full. Run as root; safe to run again: a running host is left as it is.
#
# What clients need is written to /run/cloudvm-hv2: the URI in "uri", the key, and an ssh
# command that trusts this host's key and nothing else, owned by CLOUDVM_HV2_OWNER (a uid; root
# by default), the user the tests run as. "second-host.sh stop" removes the host and all it holds.
set -eu
ns=cloudvm-hv2
addr=10.231.0.2
peer=10.231.0.1
state=/run/cloudvm-hv2
pool_size=${CLOUDVM_HV2_POOL_SIZE:-3G}
owner=${CLOUDVM_HV2_OWNER:-0}

# Removes the host and all it holds: its processes, its namespace (and the links and bridges in
# it, which outlive the processes when they are killed without this) and its state.
stop() {
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    [ -z "$pids" ] || kill $pids 2>/dev/null || true
    for _ in $(seq 50); do [ -z "$(ip netns pids "$ns" 2>/dev/null)" ] && break; sleep 0.1; done
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    [ -z "$pids" ] || kill -9 $pids 2>/dev/null || true
    ip link del cvhv0 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
    rm -rf "$state"
}

if [ "${1:-}" = stop ]; then
    stop
    exit 0
fi

if [ -f "$state/uri" ] && virsh -c "$(cat "$state/uri")" version >/dev/null 2>&1; then
    echo "second-host: libvirt at $(cat "$state/uri")"
    exit 0
fi
# Not answering: whatever is left of an earlier host (a namespace whose daemons were killed
# keeps its bridge, which a new libvirtd would refuse to reuse) goes before a new one is made.
stop

# -- network: a namespace with one veth link to this one ---------------------------------------
ip netns add "$ns"
ip link add cvhv0 type veth peer name cvhv1
ip link set cvhv1 netns "$ns"
ip addr add "$peer/30" dev cvhv0
ip link set cvhv0 up
ip netns exec "$ns" ip addr add "$addr/30" dev cvhv1
ip netns exec "$ns" ip link set cvhv1 up
ip netns exec "$ns" ip link set lo up

# -- keys: the host's own, and one for its root logins ------------------------------------------
mkdir -p "$state" && chmod 755 "$state"
ssh-keygen -q -t ed25519 -N "" -f "$state/host_key"
ssh-keygen -q -t ed25519 -N "" -f "$state/client_key"
cp "$state/client_key.pub" "$state/authorized_keys"
echo "$addr $(cut -d' ' -f1,2 "$state/host_key.pub")" > "$state/known_hosts"
cat > "$state/ssh" <<EOF
#!/bin/sh
exec ssh -o UserKnownHostsFile=$state/known_hosts -o StrictHostKeyChecking=yes "\$@"
EOF
chmod 755 "$state/ssh"
cat > "$state/sshd_config" <<EOF
ListenAddress $addr
HostKey $state/host_key
PidFile $state/sshd.pid
AuthorizedKeysFile $state/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
AllowTcpForwarding yes
EOF
mkdir -p /run/sshd

# -- the host: private state on tmpfs, its daemons started inside its namespaces -----------------
# Each directory libvirt keeps state in is replaced by an empty tmpfs carrying the same
# directories (owners and modes kept), so the daemons find the layout the packages made. One the
# local daemon has not made yet (on a bare machine /etc/libvirt/storage comes with the first pool)
# is made first: skipped, it would be the local daemon's own, and both hosts would keep their pools
# in it.
ip netns exec "$ns" unshare --mount --propagation private sh -eu -c '
    for dir in /var/lib/libvirt /run/libvirt /var/log/libvirt /var/cache/libvirt /etc/libvirt/qemu \
               /etc/libvirt/storage /etc/libvirt/secrets; do
        mkdir -p "$dir"
        layout=$(cd "$dir" && find . -mindepth 1 -type d -printf "%m %U %G %p\n")
        mount -t tmpfs -o mode=0755 tmpfs "$dir"
        echo "$layout" | while read -r mode owner group path; do
            [ -n "$path" ] || continue
            mkdir -p "$dir/$path" && chown "$owner:$group" "$dir/$path" && chmod "$mode" "$dir/$path"
        done
    done
    mkdir -p /var/lib/libvirt/images/cloudvm
    mount -t tmpfs -o "size='"$pool_size"'" tmpfs /var/lib/libvirt/images/cloudvm
    virtlogd -d -p /run/libvirt/virtlogd.pid
    libvirtd -d -p /run/libvirt/libvirtd.pid
    /usr/sbin/sshd -f '"$state"'/sshd_config
'
uri="qemu+ssh://root@$addr/system?keyfile=$state/client_key&command=$state/ssh"
for _ in $(seq 100); do
    virsh -c "$uri" version >/dev/null 2>&1 && break
    sleep 0.2
done
virsh -c "$uri" version >/dev/null

# -- its guests' network: isolated, named as the local test network ---------------------------------
sh "$(dirname "$0")/isolated-network.sh" "$uri" "${CLOUDVM_LIBVIRT_NETWORK:-cloudvm-test}" cvmhv2 192.168.214
echo "$uri" > "$state/uri"
chown "$owner" "$state/client_key" "$state/known_hosts" "$state/ssh" "$state/uri"
echo "second-host: libvirt at $uri"
