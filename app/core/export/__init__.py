"""Export formats (one module each) and what they share."""
