"""The pytest plugin, driven through pytester as a user would drive it."""
