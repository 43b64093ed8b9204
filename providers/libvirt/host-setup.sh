#!/bin/sh
# Make this Debian/Ubuntu host ready for the libvirt provider's demo and
# tests: install what is missing, start virtlogd and libvirtd, define the
# isolated test network, and start a second host reached over SSH
# (second-host.sh). Safe to run again and again.
set -eu
[ "$(id -u)" = 0 ] && sudo= || sudo=sudo
network=${CLOUDVM_LIBVIRT_NETWORK:-cloudvm-test}

# Daemon, emulator and tools; the tiny image's build tools; ssh for logins;
# libvirt-dev and pkg-config to build libvirt-python; sshd for the second host
# (its own instance, in its own network namespace, made with iproute2).
packages="libvirt-daemon-system libvirt-daemon-driver-qemu qemu-system-x86 qemu-utils dnsmasq-base
  libvirt-dev pkg-config gcc syslinux syslinux-common mtools dosfstools fdisk e2fsprogs cpio openssh-client
  openssh-server iproute2"
missing=""
for p in $packages; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "host-setup: installing$missing"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
    # The tests run sshd instances of their own; the system's, installed just now, stays off.
    case "$missing" in *openssh-server*)
        if [ -d /run/systemd/system ]; then $sudo systemctl disable --now ssh >/dev/null 2>&1 || true
        else $sudo update-rc.d ssh disable >/dev/null 2>&1 || true; $sudo invoke-rc.d ssh stop >/dev/null 2>&1 || true
        fi ;;
    esac
fi
# The tiny image's packages are fetched with apt-get download: lists must exist.
if ! apt-cache show linux-image-amd64 >/dev/null 2>&1; then $sudo apt-get update -qq; fi

# Without udev, /dev/kvm keeps root-only modes; libvirt then re-probes QEMU
# on every call (tens of seconds each). Give it the group udev would.
if [ -e /dev/kvm ] && [ "$(stat -c %G /dev/kvm)" != kvm ] && getent group kvm >/dev/null; then
    $sudo chgrp kvm /dev/kvm && $sudo chmod 660 /dev/kvm
fi

if [ -d /run/systemd/system ]; then
    $sudo systemctl start virtlogd libvirtd
else
    # Only this host's daemons count: the second host's run in their own mount namespace.
    pgrep -x --ns $$ --nslist mnt virtlogd >/dev/null || $sudo virtlogd -d
    pgrep -x --ns $$ --nslist mnt libvirtd >/dev/null || $sudo libvirtd -d
fi
for _ in $(seq 50); do
    virsh -c qemu:///system version >/dev/null 2>&1 && break
    sleep 0.2
done
virsh -c qemu:///system version >/dev/null

# An isolated network (no forwarding): guests reach this host only.
sh "$(dirname "$0")/isolated-network.sh" qemu:///system "$network" cvmtest0 192.168.213
echo "host-setup: libvirt ready (network $network)"

# A second host, reached over SSH, that shares no files with this one (second-host.sh).
$sudo env CLOUDVM_HV2_OWNER="$(id -u)" CLOUDVM_LIBVIRT_NETWORK="$network" sh "$(dirname "$0")/second-host.sh"
