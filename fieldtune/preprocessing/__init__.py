"""Turning builder output into model inputs: tokenised text, decoded and resized images."""
