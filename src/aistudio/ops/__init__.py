"""Production operations: run modes, locks, logs, metrics and the build's identity."""
