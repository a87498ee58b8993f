"""Who the user is and what we answer them, free of Rasa: the profile store, the resolution
of a turn's persona with its fallbacks, the responder that renders a reply, what happens
after an answer, and the composition root (services.py) that builds it all once."""
