"""LLM providers behind one interface: OpenAI, Anthropic, and an offline one that needs no key."""
