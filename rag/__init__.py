"""folio: answers questions about the documents a team shares, with evidence."""
