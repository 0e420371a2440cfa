"""ductplan package."""
