"""LLM providers: openai (and compatible servers), anthropic, and the built-in offline local provider."""
