"""RadLens prompts package."""
