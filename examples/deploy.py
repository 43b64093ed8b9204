"""Create a VM, wait until SSH answers, run a command on it, print the
output, delete the VM. The same script on every provider:

    CLOUDVM_PROVIDER=libvirt CLOUDVM_IMAGE=cloudvm-tiny python examples/deploy.py
    CLOUDVM_PROVIDER=aws CLOUDVM_IMAGE=ubuntu-24.04 python examples/deploy.py
    CLOUDVM_PROVIDER=gcp GOOGLE_CLOUD_PROJECT=my-project python examples/deploy.py

Against an API fake that runs no guest (moto: AWS_ENDPOINT_URL=...; the GCP
fake: CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE=...), CLOUDVM_GUESTS=0 says so:
reachability is not offered and the SSH step is skipped.
"""

import os
import tempfile
from pathlib import Path

import cloudvm
from cloudvm import ssh

with tempfile.TemporaryDirectory() as tmp, cloudvm.connect(os.environ.get("CLOUDVM_PROVIDER", "libvirt")) as cloud:
    key_file, public_key = ssh.generate_keypair(Path(tmp))
    spec = cloudvm.VMSpec(
        name=os.environ.get("CLOUDVM_NAME", "deploy-example"),
        size=cloudvm.Size(cpus=1, memory_gib=0.5),
        image=os.environ.get("CLOUDVM_IMAGE", "ubuntu-24.04"),
        network=cloudvm.Network(
            public_ip=cloudvm.Capability.PUBLIC_IP in cloud.capabilities,
            ingress=[cloudvm.Ingress(port=22)] if cloudvm.Capability.INGRESS_RULES in cloud.capabilities else [],
        ),
        ssh=cloudvm.SSHAccess(user="deploy", public_keys=[public_key]),
        tags={"example": "deploy"},
    )
    guest = cloudvm.Capability.REACHABILITY in cloud.capabilities
    vm = cloud.create(spec, wait="reachable" if guest else "running")
    try:
        print(f"{vm.name} is up at {vm.address}")
        if guest:
            done = cloud.ssh(vm, "uname -sr && hostname", key_file=str(key_file))
            print(done.stdout, end="")
            if done.returncode != 0:
                raise SystemExit(f"ssh failed: {done.stderr}")
        else:
            print(f"{cloud.provider.name} runs no guest behind this endpoint: SSH step skipped")
    finally:
        cloud.delete(vm)
        print(f"{vm.name} deleted")
