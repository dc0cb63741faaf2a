"""lensforge evaluate stage."""
