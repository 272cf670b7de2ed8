"""Microsoft Teams: handlers on the Teams SDK, Adaptive Cards from views, the JWT check."""
