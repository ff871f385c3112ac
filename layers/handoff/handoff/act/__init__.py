"""act: perform routed actions exactly once in their tools."""
