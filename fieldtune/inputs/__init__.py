"""Model inputs: tokenise text, decode and resize images once (cached), collate, augment on tensors."""
