"""What evaluators hand back (and, later, what they receive), apart from the built-in ones."""
