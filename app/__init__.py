"""RadLens app package."""
