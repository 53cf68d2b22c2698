"""Reading raw Kamal logs and turning them into normalized events with the parser definitions."""
