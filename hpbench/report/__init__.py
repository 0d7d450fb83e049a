"""Reports: renderables and JSON built from the results tables. Every function takes a
``Console`` or returns a renderable so tests can render it at a fixed width."""
