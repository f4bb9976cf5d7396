"""Training mechanics: the loop and its callbacks, optimiser and schedule, configs,
devices and processes."""
