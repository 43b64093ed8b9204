"""A short fault campaign (``nox -s chaos`` runs long ones): random workflows under random faults,
checked for duplicates, leaks, untyped errors and convergence."""

from cloudvm_testing.chaos.campaign import short_run


def test_a_short_campaign_keeps_every_promise() -> None:
    short_run("gcp")
