"""An offline fake of the Azure Resource Manager endpoints cloudvm uses, served
over HTTPS for the official management clients (start it with ``cloudvm_azure_testing``)."""
