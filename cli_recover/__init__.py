"""cli-recover: back up and restore what lives inside Kubernetes pods and on the local host."""

__version__ = "0.1.0"
