"""seimlip's active-learning service: oracles, campaign store, executors, selection, the loop."""
