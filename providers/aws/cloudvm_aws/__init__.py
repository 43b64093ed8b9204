"""cloudvm's AWS EC2 provider (``cloudvm.connect("aws", region=...)``)."""

from cloudvm_aws.provider import AWSProvider

__all__ = ["AWSProvider"]
