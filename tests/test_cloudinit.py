"""The user-data document: the SDK's user beside the user's own parts."""

import email

import yaml

import cloudvm
from cloudvm import cloudinit

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl user@host"


def spec(user_data: str | None = None) -> cloudvm.VMSpec:
    return cloudvm.VMSpec(name="web-1", size=cloudvm.Size(cpus=1, memory_gib=1), image="debian-12",
                          ssh=cloudvm.SSHAccess(user="ops", public_keys=[KEY]), user_data=user_data)


def parts(document: str) -> list[tuple[str, str, email.message.Message]]:
    message = email.message_from_string(document)
    assert message.get_content_type() == "multipart/mixed"
    return [(p.get_content_type(), p.get_payload(decode=True).decode(), p)
            for p in message.walk() if not p.is_multipart()]


def test_without_user_data_the_sdk_config_is_plain_cloud_config() -> None:
    doc = cloudinit.user_data(spec())
    assert doc.startswith("#cloud-config\n")
    config = yaml.safe_load(doc)
    user = config["users"][1]
    assert config["users"][0] == "default"
    assert user["name"] == "ops" and user["ssh_authorized_keys"] == [KEY] and config["hostname"] == "web-1"


def test_a_user_script_runs_beside_the_sdk_user() -> None:
    found = parts(cloudinit.user_data(spec("#!/bin/sh\necho hi\n")))
    assert [t for t, _, _ in found] == ["text/cloud-config", "text/x-shellscript"]
    assert yaml.safe_load(found[0][1])["users"][1]["name"] == "ops"
    assert found[1][1] == "#!/bin/sh\necho hi\n"


def test_a_user_cloud_config_is_merged_with_lists_appended() -> None:
    found = parts(cloudinit.user_data(spec("#cloud-config\nusers:\n  - name: alice\npackages: [nginx]\n")))
    assert [t for t, _, _ in found] == ["text/cloud-config", "text/cloud-config"]
    assert found[1][2]["Merge-Type"] == cloudinit.MERGE_APPEND
    assert yaml.safe_load(found[1][1])["packages"] == ["nginx"]


def test_user_multipart_parts_are_carried_over() -> None:
    user_doc = cloudinit.user_data(spec("#!/bin/sh\necho inner\n"))  # any MIME document
    found = parts(cloudinit.user_data(spec(user_doc)))
    assert [t for t, _, _ in found] == ["text/cloud-config", "text/cloud-config", "text/x-shellscript"]


def test_content_types_follow_cloud_init_markers() -> None:
    assert cloudinit.content_type("#include\nhttp://x") == "text/x-include-url"
    assert cloudinit.content_type("#cloud-boothook\n") == "text/cloud-boothook"
    assert cloudinit.content_type("plain words") == "text/x-not-multipart"


def test_meta_data_carries_instance_id_and_hostname() -> None:
    assert yaml.safe_load(cloudinit.meta_data(spec(), "i-42")) == {"instance-id": "i-42", "local-hostname": "web-1"}
