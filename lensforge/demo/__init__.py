"""Embedded demo corpus: small datasets written for lensforge, labelled as demo data."""
