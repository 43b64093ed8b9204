"""An offline fake of the Compute Engine v1 REST API, for the official
client to talk to over HTTP (start it with ``cloudvm_gcp_testing``)."""
