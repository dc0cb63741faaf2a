"""lensforge instruct stage."""
