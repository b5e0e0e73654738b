"""Load recsys-kit's fixtures for plugin authors: isolated_plugins, tiny_recipe, run_recipe."""

pytest_plugins = ["recsys_kit.testing"]
