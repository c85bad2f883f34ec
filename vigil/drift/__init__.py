"""Reserved for a later floor (see README roadmap)."""
