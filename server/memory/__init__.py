"""Memory (ARCHITECTURE.md, the turn's memories phase): tiers, local embeddings, hybrid search, and memory in
the agent turn."""
