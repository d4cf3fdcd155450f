"""Tenants, their credentials, workloads, deployments, and the hosts that register."""
