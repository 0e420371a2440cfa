"""sample_volumes package."""
