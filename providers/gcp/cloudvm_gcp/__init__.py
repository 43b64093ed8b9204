"""cloudvm provider for Google Compute Engine."""

from cloudvm_gcp.provider import GCPProvider

__all__ = ["GCPProvider"]
