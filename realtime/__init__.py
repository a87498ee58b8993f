"""The real-time path: the event stream, live features and online segment updates."""
