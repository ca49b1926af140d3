"""Memory (DESIGN.md §6): tiers, local embeddings, hybrid search, and memory in the agent turn."""
