"""folio's Slack adapter: Slack events in, rag calls, Block Kit out."""
