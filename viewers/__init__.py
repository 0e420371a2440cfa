"""viewers package."""
