"""Cluster access (contexts, namespaces, pods, exec streams) and the local-host target.

Importing this package does not import `kubernetes`; the client is loaded when a cluster is used.
"""
