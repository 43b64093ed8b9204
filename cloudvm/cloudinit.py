"""cloud-init user-data that adds the SDK's login user beside whatever the
user passed, instead of replacing it.

The SDK's part is a ``#cloud-config`` creating ``spec.ssh.user``; the user's
own user-data rides along as further MIME parts, so their script runs and
their ``#cloud-config`` is merged (lists appended) with ours. Providers that
boot cloud images (libvirt's NoCloud seed, the clouds' user-data fields) all
send this same document.
"""

from __future__ import annotations

import email
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

import yaml

from cloudvm.spec import VMSpec

# cloud-init's own table of "starts with" markers (user-data formats docs).
_CONTENT_TYPES = {
    "#cloud-config": "text/cloud-config",
    "#!": "text/x-shellscript",
    "#include": "text/x-include-url",
    "#cloud-boothook": "text/cloud-boothook",
    "#part-handler": "text/part-handler",
    "## template: jinja": "text/jinja2",
}
MERGE_APPEND = "list(append)+dict(recurse_array)+str()"


JINJA = "## template: jinja\n"


def sdk_config(spec: VMSpec, hostname: str | None = None) -> str:
    """The SDK's own ``#cloud-config``: hostname and the login user. ``hostname``: a Jinja expression
    over cloud-init's instance data instead of the spec's name, for instances launched together from
    one user-data (the document becomes a template: https://cloudinit.readthedocs.io/en/latest/explanation/instancedata.html)."""
    config: dict[str, object] = {"hostname": "@@hostname@@" if hostname else spec.name, "preserve_hostname": False}
    if spec.ssh is not None:
        config["users"] = [
            "default",
            {
                "name": spec.ssh.user,
                "shell": "/bin/bash",
                "sudo": "ALL=(ALL) NOPASSWD:ALL",
                "lock_passwd": True,
                "ssh_authorized_keys": list(spec.ssh.public_keys),
            },
        ]
    document = "#cloud-config\n" + yaml.safe_dump(config, sort_keys=False, width=1 << 16)
    return JINJA + document.replace("@@hostname@@", hostname) if hostname else document


def content_type(text: str) -> str:
    """cloud-init's content type for a user-data document, by its first line."""
    for marker, ctype in _CONTENT_TYPES.items():
        if text.startswith(marker):
            return ctype
    return "text/x-not-multipart"


def _part(text: str, ctype: str, filename: str) -> MIMEText:
    subtype = ctype.split("/", 1)[1]
    part = MIMEText(text, subtype, "utf-8")
    # 8bit keeps text readable for tiny guests; cloud-init decodes either.
    del part["Content-Transfer-Encoding"]
    part.set_payload(text.encode("utf-8"), None)
    part["Content-Transfer-Encoding"] = "8bit"
    part.add_header("Content-Disposition", "attachment", filename=filename)
    if ctype in ("text/cloud-config", "text/jinja2"):  # a template's headers reach the part it renders to
        part["Merge-Type"] = MERGE_APPEND
    return part


def _text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    return payload.decode("utf-8") if isinstance(payload, bytes) else str(part.get_payload())


def _user_parts(user_data: str) -> list[MIMEText]:
    if user_data.lower().startswith(("content-type: multipart", "mime-version:")):
        message = email.message_from_string(user_data)
        return [
            _part(_text(p), p.get_content_type(), p.get_filename() or f"part-{i}")
            for i, p in enumerate(message.walk())
            if not p.is_multipart()
        ]
    return [_part(user_data, content_type(user_data), "user-data")]


def user_data(spec: VMSpec, hostname: str | None = None) -> str:
    """The full user-data document for ``spec`` (``hostname``: as for ``sdk_config``)."""
    ours = sdk_config(spec, hostname)
    if not spec.user_data:
        return ours
    doc = MIMEMultipart(boundary="==cloudvm-user-data==")
    doc.attach(_part(ours, content_type(ours), "cloudvm.cfg"))
    for part in _user_parts(spec.user_data):
        doc.attach(part)
    return doc.as_string()


def run_once(script: str) -> str:
    """A user's script as a boot script that runs it once per instance, as cloud-init runs user
    scripts, for guests that run a script at every boot and no cloud-init."""
    end = "CLOUDVM_USER_DATA"
    while end in script:
        end += "_"
    return (f"#!/bin/sh\n# cloudvm: the VM's user_data, once per instance\nstate=/var/lib/cloudvm\n"
            f"[ -e \"$state/user-data.done\" ] && exit 0\nmkdir -p \"$state\"\n"
            f"cat > \"$state/user-data\" <<'{end}'\n{script.rstrip(chr(10))}\n{end}\n"
            f"chmod 700 \"$state/user-data\"\n\"$state/user-data\"\nstatus=$?\ntouch \"$state/user-data.done\"\n"
            f"exit $status\n")


def meta_data(spec: VMSpec, instance_id: str) -> str:
    """NoCloud meta-data: a new ``instance-id`` makes cloud-init run per-instance modules again."""
    return yaml.safe_dump({"instance-id": instance_id, "local-hostname": spec.name}, sort_keys=False)
