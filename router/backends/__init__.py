"""What the router knows about each kind of backend a node offers: how a request is sent to it and
how its answer comes back in the pipeline's shape (Ollama's native NDJSON for LLM work, PNG bytes
for images, herd's transcript JSON for speech)."""
