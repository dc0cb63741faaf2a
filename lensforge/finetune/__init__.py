"""lensforge finetune stage."""
