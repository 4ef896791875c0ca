"""API views: thin. Each one finds what the URL names through a selector (which
checks access), validates the body's shape with a serializer, calls one service
and serializes the result."""
