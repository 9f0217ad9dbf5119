"""One module per tab: each draws its components with build() and wires its own events."""
