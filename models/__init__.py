"""RadLens models package."""
