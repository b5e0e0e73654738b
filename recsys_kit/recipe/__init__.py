"""Recipes: the Pydantic models, the YAML loader with its line map, and whole-recipe checks."""

from recsys_kit.recipe.loader import LoadedRecipe, load_recipe
from recsys_kit.recipe.models import Recipe, StageRef

__all__ = ["LoadedRecipe", "Recipe", "StageRef", "load_recipe"]
