"""cloudvm provider for Azure."""

from cloudvm_azure.provider import AzureProvider

__all__ = ["AzureProvider"]
