"""Response engine: catalogue, rendering, generation."""
