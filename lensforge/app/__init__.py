"""lensforge app stage."""
