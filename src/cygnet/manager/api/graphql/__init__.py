"""graphql."""
