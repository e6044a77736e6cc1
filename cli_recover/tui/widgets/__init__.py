"""Small widgets shared by the screens of the Textual app."""
