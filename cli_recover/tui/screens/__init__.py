"""Screens of the Textual app (pods, pod, backup dialog, jobs, history...)."""
