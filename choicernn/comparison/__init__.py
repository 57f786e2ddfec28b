"""Model comparison."""
