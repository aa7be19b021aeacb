//! Model providers: OpenAI-compatible and Ollama connections, the model list, streaming.
