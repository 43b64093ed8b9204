"""Tag bookkeeping and label spelling."""

import pytest

from cloudvm import tags


def test_system_tags_mark_ownership_and_name() -> None:
    assert tags.system_tags("web-1", "abc") == {"cloudvm-managed": "true", "cloudvm-name": "web-1",
                                                "cloudvm-token": "abc"}
    assert tags.user_tags({"env": "ci", **tags.system_tags("x", "t")}) == {"env": "ci"}


def test_matches_needs_every_wanted_pair() -> None:
    have = {"env": "ci", "owner": "a"}
    assert tags.matches(have, None) and tags.matches(have, {"env": "ci"})
    assert not tags.matches(have, {"env": "prod"}) and not tags.matches(have, {"team": "a"})


@pytest.mark.parametrize(("text", "key", "label"), [
    ("Owner", True, "owner"),
    ("team A/ops", False, "team_a_ops"),
    ("9lives", True, "k9lives"),
    ("x" * 80, False, "x" * 63),
    ("ümlaut", False, "_mlaut"),
])
def test_as_label(text: str, key: bool, label: str) -> None:
    assert tags.as_label(text, key=key) == label


def test_label_collisions_are_refused() -> None:
    with pytest.raises(ValueError, match="both become label"):
        tags.as_labels({"Env": "a", "env": "b"})
