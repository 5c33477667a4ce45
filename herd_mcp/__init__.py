"""herd-mcp: an MCP server that lets AI assistants run the fleet through the router's HTTP API."""
