"""Generated answers: prompts, guard, client and the local model server."""
