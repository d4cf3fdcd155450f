"""The operator-provisioned key directory every replica of one control plane shares."""
