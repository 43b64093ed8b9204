#!/bin/sh
# Runs once on first boot of the environment's db VM (cloud-init user-data).
echo "db ready" > /tmp/db-ready
