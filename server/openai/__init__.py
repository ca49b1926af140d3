"""The OpenAI-compatible surface: OpenAI's chat completions and model list over the caller's agents."""
