"""The inference servers a node offers besides its default Ollama, one adapter module per program.

A *backend* is one inference server on the device with a kind (``ollama``, ``openai``, ``image``,
``stt``) and the models it serves. The adapters here probe what a server can do and, for image and
speech work, run one job and map its answer into herd's own result types (``jobs``). The agent
reports every backend in its heartbeat; the gateway (``node.gateway``) serves image and speech jobs
to the router through the adapters.
"""
