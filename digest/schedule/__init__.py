"""Schedule: when ticks fall, and the runner that does each tick exactly once."""
