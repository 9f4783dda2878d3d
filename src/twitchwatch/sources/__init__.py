"""Live sources: BrainFlow boards, the serial firmware bridge, replay of recordings."""
