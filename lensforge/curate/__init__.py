"""lensforge curate stage."""
